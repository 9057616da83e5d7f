"""The authorizer with payment-link tokens: REST bearer links get the payer's narrow context, bad ones 401."""

from __future__ import annotations

import base64
import importlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest.mock import ANY

import boto3
import jwt
import pytest
from moto import mock_aws

from shared import bootstrap
from shared.auth import principal_from_event
from shared.checkout.links import PaymentLinks
from shared.clock import FixedClock
from shared.config import get_settings
from shared.errors import Forbidden
from tests.integration.conftest import FakeLambdaContext

JWT_SECRET = "local-dev-secret-that-is-long-enough"
LINK_SECRET = "integration-payment-link-secret"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/api/v2/invoice-wallets/wal_1/fund"
WS_ARN = "arn:aws:execute-api:us-east-1:123456789012:ws999/dev/$connect"
INVOICE = "inv_" + "a" * 24
WALLET = "wal_" + "1" * 24


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        jwt_arn = secrets.create_secret(Name="jwt", SecretString=JWT_SECRET)["ARN"]
        link_arn = secrets.create_secret(Name="payment-link", SecretString=LINK_SECRET)["ARN"]
        monkeypatch.setenv("JWT_SECRET_ARN", jwt_arn)
        monkeypatch.setenv("PAYMENT_LINK_SECRET_ARN", link_arn)
        get_settings.cache_clear()
        # The verifiers are the composition root's, composed from these settings on the first token.
        bootstrap.reset()
        try:
            yield importlib.reload(importlib.import_module("functions.authorizer.handler"))
        finally:
            monkeypatch.delenv("JWT_SECRET_ARN")
            monkeypatch.delenv("PAYMENT_LINK_SECRET_ARN")
            get_settings.cache_clear()
            bootstrap.reset()


def link(secret: str = LINK_SECRET, issued: datetime | None = None) -> str:
    clock = FixedClock(issued or datetime.now(UTC))
    return PaymentLinks(secret, clock, "https://pay.example").issue("tenant-a", INVOICE, WALLET)[0]


def rest(token: str, scheme: str = "Bearer") -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"{scheme} {token}", "methodArn": METHOD_ARN}


def authorize(authorizer: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = authorizer.lambda_handler(event, FakeLambdaContext(function_name="authorizer"))
    return result


LINK_CONTEXT = {
    "sub": f"link:{INVOICE}",
    "tenant_id": "tenant-a",
    "roles": "consumer",
    "link_invoice_id": INVOICE,
    "link_wallet_id": WALLET,
}


def test_a_rest_bearer_link_gets_the_payers_link_context(authorizer: ModuleType) -> None:
    result = authorize(authorizer, rest(link()))
    assert result["principalId"] == f"link:{INVOICE}"
    assert result["context"] == LINK_CONTEXT
    assert result["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*",
        }
    ]


def test_a_websocket_link_gets_the_same_context(authorizer: ModuleType) -> None:
    event = {"type": "REQUEST", "methodArn": WS_ARN, "queryStringParameters": {"token": link()}}
    assert authorize(authorizer, event)["context"] == LINK_CONTEXT


def test_the_link_context_is_a_link_principal_only_on_routes_that_take_links(authorizer: ModuleType) -> None:
    event = {"requestContext": {"authorizer": authorize(authorizer, rest(link()))["context"]}}
    principal = principal_from_event(event, allow_link=True)
    assert (principal.sub, principal.tenant_id, principal.roles) == (
        f"link:{INVOICE}",
        "tenant-a",
        frozenset({"consumer"}),
    )
    assert (principal.link_invoice_id, principal.link_wallet_id) == (INVOICE, WALLET)
    with pytest.raises(Forbidden):
        principal_from_event(event)


def tampered(token: str) -> str:
    body, signature = token.split(".")
    return f"{body}.{('B' if signature[0] == 'A' else 'A') + signature[1:]}"


def forged_claims(token: str) -> str:
    """The claims of another wallet under the original signature."""
    body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["wal"] = "wal_" + "2" * 24
    raw = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + signature


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: tampered(link()), id="tampered-signature"),
        pytest.param(lambda: forged_claims(link()), id="forged-claims"),
        pytest.param(lambda: link(issued=datetime.now(UTC) - timedelta(days=31)), id="expired"),
        pytest.param(lambda: link(secret="another-secret-of-enough-length"), id="foreign-secret"),
        pytest.param(lambda: "not-a-link.at-all!", id="malformed"),
    ],
)
def test_a_bad_rest_link_is_exactly_unauthorized(authorizer: ModuleType, token: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, rest(token()))


def test_a_link_needs_the_bearer_scheme(authorizer: ModuleType) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, rest(link(), scheme="Token"))


def test_jwts_keep_their_context_without_link_scope(authorizer: ModuleType) -> None:
    token = jwt.encode(
        {"sub": "m1", "tenant_id": "t1", "roles": ["merchant"], "exp": int(time.time()) + 60},
        JWT_SECRET,
        algorithm="HS256",
    )
    result = authorize(authorizer, rest(token))
    assert result["context"] == {"sub": "m1", "tenant_id": "t1", "roles": "merchant", "exp": ANY}
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, rest(jwt.encode({"sub": "m1", "exp": 1}, JWT_SECRET, algorithm="HS256")))


@pytest.mark.parametrize("sub", ["link-payer", f"link:{INVOICE}", "link:anything"])
def test_a_jwt_with_a_reserved_subject_is_unauthorized_on_rest_and_websocket(
    authorizer: ModuleType, sub: str
) -> None:
    token = jwt.encode(
        {"sub": sub, "tenant_id": "tenant-a", "roles": ["consumer"], "exp": int(time.time()) + 60},
        JWT_SECRET,
        algorithm="HS256",
    )
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, rest(token))
    websocket = {"type": "REQUEST", "methodArn": WS_ARN, "queryStringParameters": {"token": token}}
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer, websocket)
