"""Calls per fund (card, synchronous): AWS operations, Stripe requests and provider HTTP calls, in-process on
moto with the Stripe, Tempo and Circle stand-ins, through the fund function's handler. Prints numbers;
never asserts.

The first fund warms the process (provider health rows, pooled clients); the next ones are measured, one
without and one with an Idempotency-Key (Powertools' idempotency record adds its own round trips).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import requests
from botocore.client import BaseClient
from moto import mock_aws

from bench.support import load_handler
from local.circle.serving import BackgroundCircle
from local.runtime.cfn_dynamodb import create_table_from_definition
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.auth import Principal
from shared.clock import FixedClock
from shared.config import Settings
from shared.models.invoice import InvoiceCreate, LineItemInput
from shared.providers.retry import RetryPolicy
from shared.services.invoices import InvoiceService
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import synthesized_template, table_properties

TABLE = "WalletsTable"
GROUP = "wallets"
MERCHANT = {"sub": "usr_bench", "tenant_id": "ten_bench", "roles": "merchant"}
SECRETS = {"stripe_secret_key": "sk_test_bench", "payment_link_secret": "bench-payment-link-secret"}
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


_OBJECT_ID = re.compile(r"^[a-z]+_[A-Za-z0-9]{8,}$")


@contextmanager
def counting_with_providers() -> Iterator[Counter[str]]:
    """Every botocore operation (`service.Operation`), Stripe request (`stripe.METHOD /path`, object ids
    left out) and provider HTTP call (`provider.METHOD /path`, the httpx clients of the adapters)."""
    calls: Counter[str] = Counter()
    original_call = BaseClient._make_api_call
    original_request = requests.Session.request
    original_send = httpx.Client.send

    def aws(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original_call(client, operation, params)

    def stripe(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path = "/".join(":id" if _OBJECT_ID.match(part) else part for part in urlsplit(url).path.split("/"))
        calls[f"stripe.{method.upper()} {path}"] += 1
        return original_request(session, method, url, *args, **kwargs)

    def provider(client: httpx.Client, request: httpx.Request, *args: Any, **kwargs: Any) -> Any:
        calls[f"provider.{request.method} {request.url.path}"] += 1
        return original_send(client, request, *args, **kwargs)

    BaseClient._make_api_call = aws  # type: ignore[method-assign]
    requests.Session.request = stripe  # type: ignore[method-assign]
    httpx.Client.send = provider  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original_call  # type: ignore[method-assign]
        requests.Session.request = original_request  # type: ignore[method-assign]
        httpx.Client.send = original_send  # type: ignore[method-assign]


def _summary(label: str, calls: Counter[str]) -> dict[str, int]:
    aws = {k: n for k, n in calls.items() if not k.startswith(("stripe.", "provider."))}
    stripe = {k: n for k, n in calls.items() if k.startswith("stripe.")}
    provider = {k: n for k, n in calls.items() if k.startswith("provider.")}
    print(
        f"  fund {label}: {sum(aws.values())} AWS, {sum(stripe.values())} Stripe, "
        f"{sum(provider.values())} provider calls"
    )
    for name, count in sorted(calls.items()):
        print(f"    {count} x {name}")
    return {"aws": sum(aws.values()), "stripe": sum(stripe.values()), "provider": sum(provider.values())}


def run() -> dict[str, dict[str, int]]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_NAMESPACE="MonayWallets",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    properties = table_properties(synthesized_template())
    with (
        mock_aws(),
        BackgroundStandIn() as stripe_server,
        BackgroundTempo() as tempo,
        BackgroundCircle() as circle,
    ):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(dynamodb, properties, TABLE)
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        scheduler.create_schedule_group(Name=GROUP)
        settings = Settings.model_validate(
            {
                "TABLE_NAME": TABLE,
                "KMS_KEY_ID": key_id,
                "SCHEDULE_GROUP_NAME": GROUP,
                "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
                "SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:schedule-dlq",
                "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
                "PUBLIC_BASE_URL": "https://pay.example",
                "POWERTOOLS_SERVICE_NAME": "fund",
            }
        )
        clock = FixedClock(NOW)
        stripe = build_stripe_client("sk_test_bench", stripe_server.base_url, max_network_retries=0)
        timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
        providers: dict[str, Any] = {
            "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_key", RetryPolicy(), 0.5),
            "circle": CircleProvider(
                http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", RetryPolicy(), health_timeout_s=0.5
            ),
        }
        common: dict[str, Any] = {"client": dynamodb, "app_secret": SECRETS, "clock": clock}
        create = load_handler("create_wallet")
        create.deps = create.compose(
            settings, kms=kms, scheduler=scheduler, cards=StripeCardIssuer(stripe), **common
        )
        fund = load_handler("fund")
        fund.deps = fund.compose(
            settings, payments=StripePaymentProcessor(stripe), providers=providers, **common
        )
        invoices = InvoiceService(DynamoDBInvoiceRepository(dynamodb, TABLE), clock)
        who = Principal("usr_bench", "ten_bench", frozenset({"merchant"}))

        def new_wallet() -> str:
            body = InvoiceCreate.model_validate(
                {
                    "customer_id": "cus_bench",
                    "currency": "USD",
                    "due_date": "2030-02-01",
                    "line_items": [LineItemInput(description="Bench", quantity=1, unit_price="10.00")],
                }
            )
            event = api_event(
                "POST",
                "/api/v2/invoice-wallets/create-from-invoice",
                body={"invoice_id": invoices.create(who, body).id},
                principal=MERCHANT,
            )
            answer = create.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
            assert answer["statusCode"] == 201, answer
            return str(json.loads(answer["body"])["data"]["wallet"]["wallet_id"])

        def fund_once(wallet_id: str, headers: dict[str, str]) -> dict[str, Any]:
            event = api_event(
                "POST",
                f"/api/v2/invoice-wallets/{wallet_id}/fund",
                body={"payment_method": "pm_card_visa"},
                principal=MERCHANT,
                headers=headers,
            )
            answer = fund.lambda_handler(event, FakeLambdaContext(function_name="fund"))
            assert answer["statusCode"] == 200, answer
            return dict(json.loads(answer["body"])["data"])

        fund_once(new_wallet(), {})  # warm: health rows, breaker items, pooled connections
        results: dict[str, dict[str, int]] = {}
        for label, headers in (
            ("without Idempotency-Key", {}),
            ("with Idempotency-Key", {"Idempotency-Key": "bench-fund-1"}),
        ):
            wallet_id = new_wallet()
            with counting_with_providers() as calls:
                data = fund_once(wallet_id, headers)
            results[label] = _summary(f"{label} (minted at {data['provider']})", calls)
        return results


if __name__ == "__main__":
    run()
