"""What the money benchmarks (funding, destruction, cost) share: their environment, an in-process rig on
moto with the Stripe, Tempo and Circle stand-ins (the process's composition root installed over it, the
create_wallet and fund handlers loaded), counting AWS, Stripe and provider calls, and printing those
counts."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import httpx
from moto import mock_aws

from bench.support import installed, load_handler
from bench.wallet_creation import counting_calls
from local.circle.serving import BackgroundCircle
from local.runtime.cfn_dynamodb import create_table_from_definition
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.auth import Principal
from shared.bootstrap import Adapters, Capabilities
from shared.clock import FixedClock
from shared.config import Settings
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate, LineItemInput
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties

TABLE = "WalletsTable"
KEY_TABLE = "WalletKeysTable"
GROUP = "wallets"
MERCHANT = {"sub": "usr_bench", "tenant_id": "ten_bench", "roles": "merchant"}
SECRETS = {"stripe_secret_key": "sk_test_bench"}
LINK_SECRET = "bench-payment-link-secret"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def bench_environment(**extra: str) -> None:
    """moto's credentials and region, Powertools quiet (no metrics, no tracing, warnings), plus `extra`."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_NAMESPACE="MonayWallets",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        **extra,
    )


@contextmanager
def counting_with_providers() -> Iterator[Counter[str]]:
    """botocore operations and Stripe requests (`bench.wallet_creation.counting_calls`, object ids left out),
    plus provider HTTP calls (`provider.METHOD /path`, the httpx clients of the adapters)."""
    original = httpx.Client.send

    with counting_calls() as calls:

        def counted(client: httpx.Client, request: httpx.Request, *args: Any, **kwargs: Any) -> Any:
            calls[f"provider.{request.method} {request.url.path}"] += 1
            return original(client, request, *args, **kwargs)

        httpx.Client.send = counted  # type: ignore[method-assign]
        try:
            yield calls
        finally:
            httpx.Client.send = original  # type: ignore[method-assign]


def print_calls(label: str, calls: Counter[str]) -> dict[str, int]:
    """`label: N AWS, N Stripe, N provider calls`, then every call with its count; the three totals."""
    aws = sum(n for k, n in calls.items() if not k.startswith(("stripe.", "provider.")))
    stripe = sum(n for k, n in calls.items() if k.startswith("stripe."))
    provider = sum(n for k, n in calls.items() if k.startswith("provider."))
    print(f"  {label}: {aws} AWS, {stripe} Stripe, {provider} provider calls")
    for call, count in sorted(calls.items()):
        print(f"    {count} x {call}")
    return {"aws": aws, "stripe": stripe, "provider": provider}


@dataclass
class MoneyRig:
    """The AWS clients, settings, clock, Stripe client and providers of an in-process run, the create_wallet
    and fund handlers, and `adapters`: the `Adapters` overrides the process's composition root is installed
    with (every handler loaded in the rig runs over them)."""

    dynamodb: Any
    kms: Any
    scheduler: Any
    settings: Settings
    clock: FixedClock
    stripe: Any
    providers: dict[str, Any]
    create: ModuleType
    fund: ModuleType
    adapters: dict[str, Any]
    invoices: InvoiceService
    who: Principal

    def install(self, settings: Settings | None = None) -> Capabilities:
        """Install the process's composition root over the rig's adapters, with `settings` (the rig's when
        None); the rig resets it on exit."""
        return bootstrap.use(Adapters(settings or self.settings, **self.adapters))

    def new_invoice(self) -> str:
        body = InvoiceCreate.model_validate(
            {
                "customer_id": "cus_bench",
                "currency": "USD",
                "due_date": "2030-02-01",
                "line_items": [LineItemInput(description="Bench", quantity=1, unit_price="10.00")],
            }
        )
        return self.invoices.create(self.who, body).id

    def new_wallet(
        self, ttl: int | None = None, mode_override: str | None = None, funded: bool = False
    ) -> str:
        """A wallet created from a new invoice (through create_wallet), funded by card if `funded`."""
        body: dict[str, Any] = {"invoice_id": self.new_invoice()}
        if ttl is not None:
            body["ttl"] = ttl
        if mode_override is not None:
            body["mode_override"] = mode_override
        event = api_event(
            "POST", "/api/v2/invoice-wallets/create-from-invoice", body=body, principal=MERCHANT
        )
        answer = self.create.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
        assert answer["statusCode"] == 201, answer
        wallet_id = str(json.loads(answer["body"])["data"]["wallet"]["wallet_id"])
        if funded:
            self.fund_wallet(wallet_id)
        return wallet_id

    def fund_wallet(self, wallet_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Fund it by card through the fund handler; the answer's data."""
        event = api_event(
            "POST",
            f"/api/v2/invoice-wallets/{wallet_id}/fund",
            body={"payment_method": "pm_card_visa"},
            principal=MERCHANT,
            headers=headers,
        )
        answer = self.fund.lambda_handler(event, FakeLambdaContext(function_name="fund"))
        assert answer["statusCode"] == 200, answer
        return dict(json.loads(answer["body"])["data"])


@contextmanager
def money_rig(
    *, start: datetime = START, attempts: int | None = None, service_name: str | None = None
) -> Iterator[MoneyRig]:
    """Within moto and the three stand-ins: the table from the synthesized template, a KMS key, the Scheduler
    group, and the process's composition root installed over them (reset on exit). `attempts` is the
    providers' RetryPolicy attempts (its default when None), `service_name` the settings'
    POWERTOOLS_SERVICE_NAME (unset when None)."""
    properties = table_properties(local_template())
    key_table_properties = table_properties(local_template(), KEY_TABLE)
    with (
        mock_aws(),
        BackgroundStandIn() as stripe_server,
        BackgroundTempo() as tempo,
        BackgroundCircle() as circle,
    ):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(dynamodb, properties, TABLE)
        create_table_from_definition(dynamodb, key_table_properties, KEY_TABLE)
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        scheduler.create_schedule_group(Name=GROUP)
        values = {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": key_id,
            "SCHEDULE_GROUP_NAME": GROUP,
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
            "SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:schedule-dlq",
            "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
            "PUBLIC_BASE_URL": "https://pay.example",
        }
        if service_name is not None:
            values["POWERTOOLS_SERVICE_NAME"] = service_name
        settings = Settings.model_validate(values)
        clock = FixedClock(start)
        stripe = build_stripe_client("sk_test_bench", stripe_server.base_url, max_network_retries=0)
        timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)

        def retry() -> RetryPolicy:
            return RetryPolicy() if attempts is None else RetryPolicy(attempts=attempts)

        providers: dict[str, Any] = {
            "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_key", retry(), 0.5),
            "circle": CircleProvider(
                http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry(), health_timeout_s=0.5
            ),
        }
        adapters: dict[str, Any] = {
            "dynamodb": dynamodb,
            "kms": kms,
            "scheduler": scheduler,
            "cards": StripeCardIssuer(stripe),
            "payments": StripePaymentProcessor(stripe),
            "providers": providers,
            "stripe_keys": SECRETS,
            "payment_link_secret": LINK_SECRET,
            "clock": clock,
        }
        with installed(Adapters(settings, **adapters)):
            yield MoneyRig(
                dynamodb=dynamodb,
                kms=kms,
                scheduler=scheduler,
                settings=settings,
                clock=clock,
                stripe=stripe,
                providers=providers,
                create=load_handler("create_wallet"),
                fund=load_handler("fund"),
                adapters=adapters,
                invoices=InvoiceService(DynamoDBInvoiceRepository(dynamodb, TABLE), clock),
                who=Principal("usr_bench", "ten_bench", frozenset({"merchant"})),
            )
