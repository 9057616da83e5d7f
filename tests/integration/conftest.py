"""Moto-backed fixtures: the table as the stack defines it, API Gateway v1 events, a Lambda context."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.runtime.cfn_dynamodb import create_table_from_definition
from tests.support.template import ROOT, local_template, table_properties

TABLE = "WalletsTable"
KEY_TABLE = "WalletKeysTable"


def fallback_table_properties_from_design_doc() -> dict[str, Any]:
    """docs/DESIGN.md's table, used only while app.py (the stack) does not exist yet in this checkout."""
    keys = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"]
    return {
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": f"gsi{n}",
                "KeySchema": [
                    {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
                    {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for n in (1, 2, 3)
        ],
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
    }


def wallets_table_properties() -> dict[str, Any]:
    if (ROOT / "app.py").exists():
        return table_properties(local_template())
    return fallback_table_properties_from_design_doc()


def create_tables(client: Any) -> None:
    """The main table and the wallet key table, as the stack defines them, in the active moto mock."""
    create_table_from_definition(client, wallets_table_properties(), TABLE)
    create_table_from_definition(client, table_properties(local_template(), KEY_TABLE), KEY_TABLE)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        yield client


@pytest.fixture
def webhook_key_id(dynamodb: Any) -> str:
    """A KMS key in the active moto mock, as the stack's WebhookKey seals endpoints' signing secrets."""
    kms = boto3.client("kms", region_name="us-east-1")
    return str(kms.create_key(Description="WebhookKey")["KeyMetadata"]["KeyId"])


def scan_all(client: Any, *, rate_windows: bool = False) -> list[dict[str, Any]]:
    """Every item of the table, sorted; the rate limiter's window counters (`RATE#`) only when asked."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            if not rate_windows:
                items = [i for i in items if not i["pk"]["S"].startswith("RATE#")]
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def set_tenant_limits(client: Any, tenant_id: str, **limits: int) -> None:
    """Write the tenant's rate-limit overrides (shared.api.rate_limits.RateLimits field names), as an
    operator would; processes read them within a minute, a freshly composed one at once."""
    item = {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "RATE_LIMITS"}}
    item.update({name: {"N": str(number)} for name, number in limits.items()})
    client.put_item(TableName=TABLE, Item=item)


@dataclass
class FakeLambdaContext:
    function_name: str = "invoices"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:invoices"
    aws_request_id: str = "req-1"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


MERCHANT = {"sub": "merchant-1", "tenant_id": "tenant-a", "roles": "merchant"}
OTHER_MERCHANT = {"sub": "merchant-9", "tenant_id": "tenant-b", "roles": "merchant"}
ADMIN = {"sub": "admin-1", "tenant_id": "tenant-a", "roles": "admin"}
CONSUMER = {"sub": "cus_alice", "tenant_id": "tenant-a", "roles": "consumer"}
OPERATOR = {"sub": "op-1", "tenant_id": "platform", "roles": "operator"}
OTHER_ADMIN = {"sub": "admin-9", "tenant_id": "tenant-b", "roles": "admin"}


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    principal: dict[str, str] | None = MERCHANT,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event as the gateway sends it after the authorizer ran."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "prod",
            "httpMethod": method,
            "path": f"/prod{path}",
            "authorizer": dict(principal) if principal else None,
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": False,
    }


def header(response: dict[str, Any], name: str) -> str | None:
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    single = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if name.lower() in multi:
        return str(multi[name.lower()][0])
    value = single.get(name.lower())
    return None if value is None else str(value)


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(response["body"]))


# -- the Stripe stand-in served in-process, and a webhook receiver ----------------------------------------

STRIPE_TEST_KEY = "sk_test_integration"


@pytest.fixture(scope="module")
def live() -> Iterator[Any]:
    """One Stripe stand-in per test module."""
    from local.stripe.serving import BackgroundStandIn

    with BackgroundStandIn() as server:
        yield server


@pytest.fixture
def standin(live: Any) -> Any:
    """The module's Stripe stand-in, reset for this test."""
    from tests.unit.stripe_standin.conftest import control

    control(live, "POST", "/_control/reset")
    return live


@pytest.fixture
def sdk(standin: Any) -> Any:
    """The official SDK pointed at the stand-in, without its own retries."""
    from shared.adapters.stripe_client import build_stripe_client

    return build_stripe_client(STRIPE_TEST_KEY, standin.base_url, max_network_retries=0)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Any]:
    """A local endpoint that records the webhooks delivered to it."""
    from tests.unit.stripe_standin.receiver import WebhookReceiver

    server = WebhookReceiver().start()
    yield server
    server.stop()
