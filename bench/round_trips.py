"""AWS round trips per invoice create, counted with botocore event hooks against moto."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="MonayWallets",
    TABLE_NAME="WalletsTable",
    POWERTOOLS_METRICS_DISABLED="true",
)

import boto3
from moto import mock_aws

from bench.support import installed, load_handler
from local.runtime.cfn_dynamodb import create_table_from_definition
from shared.bootstrap import Adapters
from shared.config import get_settings
from tests.integration.conftest import MERCHANT, FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties

BODY = {
    "customer_id": "usr_bench",
    "currency": "USD",
    "due_date": "2026-12-31",
    "line_items": [{"description": "Bench", "quantity": 1, "unit_price": "10.00"}],
}


def run() -> dict[str, int]:
    properties = table_properties(local_template())
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(client, properties, "WalletsTable")
        handler = load_handler("invoices")
        with installed(Adapters(get_settings(), dynamodb=client)):
            calls: Counter[str] = Counter()

            def count(event_name: str, **_: Any) -> None:
                calls[event_name.rsplit(".", 1)[-1]] += 1

            client.meta.events.register("before-call.dynamodb", count)
            results: dict[str, int] = {}
            for label, headers in (
                ("without Idempotency-Key", {}),
                ("with Idempotency-Key", {"Idempotency-Key": "b1"}),
            ):
                handler.lambda_handler(api_event("POST", "/api/v1/invoices", body=BODY), FakeLambdaContext())
                calls.clear()
                event = api_event("POST", "/api/v1/invoices", body=BODY, principal=MERCHANT, headers=headers)
                answer = handler.lambda_handler(event, FakeLambdaContext())
                assert answer["statusCode"] == 201, answer
                writes = sum(n for op, n in calls.items() if op in WRITE_OPERATIONS)
                results[label] = sum(calls.values())
                print(
                    f"  invoice create {label}: {dict(calls)}"
                    f" -> {writes} write round trip(s), {results[label]} in all"
                )
            return results


WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

if __name__ == "__main__":
    run()
