"""Lambda authorizer for the REST API (TOKEN) and the WebSocket API (REQUEST): a JWT or a payment link.

Its verifiers are the composition root's (`Adapters.jwt_verifier`, `Capabilities.link_verifier`), built on
the first token that needs them: importing this module reads no setting and builds nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared.auth import api_wide_resource, token_of
from shared.bootstrap import app as capabilities
from shared.errors import InvalidLink, Unauthorized

logger = Logger()


def link_context(token: str) -> tuple[str, dict[str, str]]:
    """A payment-link token: the payer may fund and pay its wallet and follow its invoice, nothing else.

    The context names the link's invoice and wallet; `principal_from_event` refuses it (403) on every
    route that does not take links, and the wallet services confine it to that one wallet."""
    try:
        claims = capabilities().link_verifier.verify(token)
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
    principal = capabilities().adapters.jwt_verifier.verify(token)
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
