"""AWS and Stripe calls per create-from-invoice, and key generation + envelope encryption time per wallet."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests
from botocore.client import BaseClient
from moto import mock_aws

from bench.support import installed, load_handler, median_seconds
from local.runtime.cfn_dynamodb import create_table_from_definition
from local.stripe.serving import BackgroundStandIn
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.kms_keys import KmsDataKeys
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import ScaledClock
from shared.config import Settings
from shared.crypto.envelope import seal
from shared.crypto.keys import generate_wallet_keys
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate, LineItemInput
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties

REPEAT = 50
GROUP = "wallets"
MERCHANT = {"sub": "usr_bench", "tenant_id": "ten_bench", "roles": "merchant"}


# A Stripe object id as a path segment: a lowercase prefix, `_`, then at least 8 letters/digits (`ic_`, `pi_`,
# `re_` + 24 in the stand-in). Resource names such as `payment_intents` or `test_helpers` are not ids.
_OBJECT_ID = re.compile(r"^[a-z]+_[A-Za-z0-9]{8,}$")


def stripe_path(url: str) -> str:
    """The request's path without its object ids: `/v1/issuing/cards/ic_...` is `/v1/issuing/cards`."""
    return "/".join(part for part in urlsplit(url).path.split("/") if not _OBJECT_ID.match(part))


@contextmanager
def counting_calls() -> Iterator[Counter[str]]:
    """Count every botocore API call (`service.Operation`) and Stripe request (`stripe.METHOD /path`, object
    ids left out)."""
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call
    original_request = requests.Session.request

    def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original(client, operation, params)

    def counted_request(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls[f"stripe.{method.upper()} {stripe_path(url)}"] += 1
        return original_request(session, method, url, *args, **kwargs)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    requests.Session.request = counted_request  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
        requests.Session.request = original_request  # type: ignore[method-assign]


def run() -> dict[str, float]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.update(POWERTOOLS_METRICS_NAMESPACE="MonayWallets", POWERTOOLS_METRICS_DISABLED="true")
    os.environ.update(POWERTOOLS_TRACE_DISABLED="true")
    properties = table_properties(local_template())
    key_table_properties = table_properties(local_template(), "WalletKeysTable")
    with mock_aws(), BackgroundStandIn() as stripe_standin:
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(dynamodb, properties, "WalletsTable")
        create_table_from_definition(dynamodb, key_table_properties, "WalletKeysTable")
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        scheduler.create_schedule_group(Name=GROUP)
        settings = Settings.model_validate(
            {
                "TABLE_NAME": "WalletsTable",
                "KMS_KEY_ID": key_id,
                "SCHEDULE_GROUP_NAME": GROUP,
                "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
                "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
            }
        )
        handler = load_handler("create_wallet")
        stripe = build_stripe_client("sk_test_bench", stripe_standin.base_url, max_network_retries=0)
        adapters = Adapters(
            settings,
            dynamodb=dynamodb,
            kms=kms,
            scheduler=scheduler,
            cards=StripeCardIssuer(stripe),
            stripe_keys={"stripe_secret_key": "sk_test_bench"},
            payment_link_secret="bench",
        )
        with installed(adapters):
            invoices = InvoiceService(DynamoDBInvoiceRepository(dynamodb, "WalletsTable"), ScaledClock())
            who = Principal("usr_bench", "ten_bench", frozenset({"merchant"}))

            def invoice_id() -> str:
                body = InvoiceCreate.model_validate(
                    {
                        "customer_id": "cus_bench",
                        "currency": "USD",
                        "due_date": "2030-01-01",
                        "line_items": [LineItemInput(description="Bench", quantity=1, unit_price="10.00")],
                        "payment_type": "one_time",
                    }
                )
                return invoices.create(who, body).id

            # The first wallet of a tenant also creates its Stripe cardholder; measure a later one.
            for _ in range(2):
                target = invoice_id()
                with counting_calls() as calls:
                    event = api_event(
                        "POST",
                        "/api/v2/invoice-wallets/create-from-invoice",
                        body={"invoice_id": target},
                        principal=MERCHANT,
                    )
                    answer = handler.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
                assert answer["statusCode"] == 201, answer
            print("  create-from-invoice (a tenant's second wallet):")
            for call, count in sorted(calls.items()):
                print(f"    {count} x {call}")

        data_keys = KmsDataKeys(kms, key_id)
        keygen = median_seconds(generate_wallet_keys, REPEAT)
        sealing = median_seconds(
            lambda: seal(generate_wallet_keys().secret_bytes(), "wal_bench", data_keys), REPEAT
        )
    print(f"  key pairs per wallet: {keygen * 1000:.2f} ms")
    print(f"  key pairs + KMS data key + AES-256-GCM seal: {sealing * 1000:.2f} ms (KMS is moto in-process)")
    return {"aws_calls": float(sum(calls.values())), "keygen_ms": keygen * 1000, "seal_ms": sealing * 1000}


if __name__ == "__main__":
    run()
