"""Lambda authorizer for the REST API (TOKEN) and the WebSocket API (REQUEST): verifies the bearer JWT."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger

from shared.auth import JwtVerifier, secret_from_string
from shared.config import Settings, get_settings
from shared.errors import Unauthorized

logger = Logger()

_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[A-Za-z0-9_-]+)/.*$")


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


def token_of(event: dict[str, Any]) -> str:
    if event.get("type") == "TOKEN":
        header = event.get("authorizationToken") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("expected a Bearer token")
        return token.strip()
    query = event.get("queryStringParameters") or {}
    token = query.get("token")
    return token.strip() if isinstance(token, str) else ""


def api_wide_resource(method_arn: str) -> str:
    """`.../{apiId}/{stage}/*`: the policy then covers every route, so a cached answer serves them all."""
    match = _METHOD_ARN.fullmatch(method_arn or "")
    if match is None:
        raise Unauthorized("unexpected methodArn")
    return f"{match.group(1)}/*"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        resource = api_wide_resource(event.get("methodArn", ""))
        principal = verifier.verify(token_of(event))
    except Unauthorized as exc:
        logger.info("token refused", extra={"reason": exc.message, "type": event.get("type")})
        # API Gateway answers 401 for exactly this message; anything else would be a 500.
        raise Exception("Unauthorized") from None
    return {
        "principalId": principal.sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": principal.to_context(),
    }
