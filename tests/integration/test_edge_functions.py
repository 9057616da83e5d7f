"""Authorizer (secret from Secrets Manager on moto), /health, destroy and the placeholder functions."""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import from_environment, get_settings
from tests.integration.conftest import FakeLambdaContext, api_event, body_of

SECRET = "local-dev-secret-that-is-long-enough"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/v1/invoices"


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="jwt", SecretString=SECRET
        )["ARN"]
        monkeypatch.setenv("JWT_SECRET_ARN", arn)
        get_settings.cache_clear()
        # The verifiers are the composition root's, composed from these settings on the first token.
        bootstrap.reset()
        try:
            yield importlib.reload(importlib.import_module("functions.authorizer.handler"))
        finally:
            monkeypatch.delenv("JWT_SECRET_ARN")
            get_settings.cache_clear()
            bootstrap.reset()


def bearer(**claims: Any) -> str:
    body = {
        "sub": "m1",
        "tenant_id": "t1",
        "roles": ["merchant", "admin"],
        "exp": int(time.time()) + 60,
        **claims,
    }
    return jwt.encode(body, SECRET, algorithm="HS256")


def test_token_event_gets_an_api_wide_allow_policy(authorizer: ModuleType) -> None:
    event = {"type": "TOKEN", "authorizationToken": f"Bearer {bearer()}", "methodArn": METHOD_ARN}
    result = authorizer.lambda_handler(event, FakeLambdaContext(function_name="authorizer"))
    assert result["principalId"] == "m1"
    assert result["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*",
        }
    ]
    context = dict(result["context"])
    # The token's expiry rides along: every function refuses the cached context once it has passed.
    assert int(context.pop("exp")) > time.time()
    assert context == {"sub": "m1", "tenant_id": "t1", "roles": "admin,merchant"}


def test_websocket_request_event_reads_the_query_token(authorizer: ModuleType) -> None:
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:ws999/dev/$connect",
        "queryStringParameters": {"token": bearer()},
    }
    result = authorizer.lambda_handler(event, FakeLambdaContext(function_name="authorizer"))
    assert result["policyDocument"]["Statement"][0]["Resource"].endswith("ws999/dev/*")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "TOKEN", "authorizationToken": "Bearer " + bearer(exp=1), "methodArn": METHOD_ARN},
        {"type": "TOKEN", "authorizationToken": "Basic dXNlcjpwYXNz", "methodArn": METHOD_ARN},
        {"type": "TOKEN", "authorizationToken": bearer(), "methodArn": METHOD_ARN},
        {"type": "TOKEN", "authorizationToken": "Bearer " + bearer(), "methodArn": "arn:aws:s3:::bucket"},
        {"type": "REQUEST", "methodArn": METHOD_ARN, "queryStringParameters": None},
    ],
)
def test_refusals_raise_exactly_unauthorized(authorizer: ModuleType, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(event, FakeLambdaContext(function_name="authorizer"))


def test_health_ok_then_503_when_the_table_is_gone(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import functions.health.handler as health

    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    bootstrap.use(Adapters(get_settings(), dynamodb_probe=dynamodb, clock=clock))
    response = health.lambda_handler(api_event("GET", "/health", principal=None), FakeLambdaContext())
    assert (response["statusCode"], body_of(response)) == (
        200,
        {"success": True, "data": {"status": "ok", "checks": {"table": "ok"}}},
    )
    dynamodb.delete_table(TableName="WalletsTable")
    cached = health.lambda_handler(api_event("GET", "/health", principal=None), FakeLambdaContext())
    assert cached["statusCode"] == 200  # probes are cached for a few seconds
    clock.advance(seconds=11)
    down = health.lambda_handler(api_event("GET", "/health", principal=None), FakeLambdaContext())
    body = body_of(down)
    assert (down["statusCode"], body["code"]) == (503, "service_unavailable")
    assert body["details"] == [
        {"field": "table", "message": "error: ResourceNotFoundException", "type": "dependency_check"}
    ]


def test_settings_default_table_matches_the_fixture() -> None:
    assert from_environment().table_name == "WalletsTable"
