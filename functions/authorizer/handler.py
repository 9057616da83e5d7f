"""Lambda authorizer for the REST API (TOKEN) and the WebSocket API (REQUEST): a JWT or a payment link."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from shared.auth import JwtVerifier, api_wide_resource, secret_from_string, token_of
from shared.checkout.links import PaymentLinks
from shared.clock import ScaledClock
from shared.config import Settings, get_settings
from shared.errors import InvalidLink, Unauthorized

logger = Logger()


def build_verifier(settings: Settings) -> JwtVerifier:
    if settings.jwt_secret_arn:
        from shared.adapters.secrets import secret_string

        arn = settings.jwt_secret_arn
        return JwtVerifier(
            secret=lambda: secret_from_string(secret_string(arn)),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    return JwtVerifier(
        jwks_url=settings.jwt_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


verifier = build_verifier(get_settings())


@lru_cache(maxsize=1)
def payment_links() -> PaymentLinks:
    settings = get_settings()
    if not settings.payment_link_secret_arn:
        raise Unauthorized("payment links are not configured")
    from shared.adapters.secrets import secret_string

    secret = secret_string(settings.payment_link_secret_arn)
    if not secret:
        raise Unauthorized("payment links are not configured")
    return PaymentLinks(secret, ScaledClock(settings.clock_speed, settings.clock_origin), "")


def link_context(token: str) -> tuple[str, dict[str, str]]:
    """A payment-link token: the payer may fund and pay its wallet and follow its invoice, nothing else.

    The context names the link's invoice and wallet; `principal_from_event` refuses it (403) on every
    route that does not take links, and the wallet services confine it to that one wallet."""
    try:
        claims = payment_links().verify(token)
    except InvalidLink as exc:
        raise Unauthorized(exc.message) from exc
    subject = f"link:{claims.invoice_id}"
    context = {
        "sub": subject,
        "tenant_id": claims.tenant_id,
        # The payer acts as a consumer; `link_invoice_id` confines the connection to this one invoice.
        "roles": "consumer",
        "link_invoice_id": claims.invoice_id,
        "link_wallet_id": claims.wallet_id,
    }
    return subject, context


def identity(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    token = token_of(event)
    # A JWT has three dot-separated parts and a payment-link token two.
    if token.count(".") == 1:
        return link_context(token)
    principal = verifier.verify(token)
    return principal.sub, principal.to_context()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        resource = api_wide_resource(event.get("methodArn", ""))
        principal_id, authorizer_context = identity(event)
    except Unauthorized as exc:
        logger.info("token refused", extra={"reason": exc.message, "type": event.get("type")})
        # API Gateway answers 401 for exactly this message; anything else would be a 500.
        raise Exception("Unauthorized") from None
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": authorizer_context,
    }
