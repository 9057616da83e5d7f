"""Paying and destruction: AWS, Stripe and provider calls per pay (with the destruction it triggers) and per
destroy alone (the schedule trigger of an unpaid funded wallet), in-process on moto with the stand-ins;
then the virtual delay from `expires_at` to `destroyed` through the Scheduler path and through the TTL-sweep
path in the local runtime. Prints numbers; never asserts.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto import mock_aws

from bench.support import load_handler
from bench.wallet_creation import counting_calls
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

GROUP = "wallets"
TABLE = "WalletsTable"
MERCHANT = {"sub": "usr_bench", "tenant_id": "ten_bench", "roles": "merchant"}
SECRETS = {"stripe_secret_key": "sk_test_bench", "payment_link_secret": "bench-payment-link-secret"}
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Runtime part: wallets per path, the speed factor (as the e2e test), and their creation spacing.
WALLETS_PER_PATH = 5
SPEED = float(os.environ.get("BENCH_DESTRUCTION_SPEED", "5"))
SPACING = 0.6


@contextmanager
def counting_everything() -> Iterator[Counter[str]]:
    """botocore operations and Stripe requests (bench.wallet_creation), plus provider HTTP calls."""
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


def _print(label: str, calls: Counter[str]) -> dict[str, int]:
    aws = sum(n for k, n in calls.items() if not k.startswith(("stripe.", "provider.")))
    stripe = sum(n for k, n in calls.items() if k.startswith("stripe."))
    provider = sum(n for k, n in calls.items() if k.startswith("provider."))
    print(f"  {label}: {aws} AWS, {stripe} Stripe, {provider} provider calls")
    # Stripe paths are shown without their object id: `POST /v1/issuing/cards` here is the card's cancel.
    for call, count in sorted(calls.items()):
        print(f"    {count} x {call}")
    return {"aws": aws, "stripe": stripe, "provider": provider}


def calls_per_pay_and_destroy() -> dict[str, dict[str, int]]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_METRICS_NAMESPACE="MonayWallets",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_DISABLED_EMF="true",
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
            }
        )
        clock = FixedClock(START)
        stripe = build_stripe_client("sk_test_bench", stripe_server.base_url, max_network_retries=0)
        timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
        providers: dict[str, Any] = {
            "tempo": TempoProvider(
                http_client(tempo.base_url, timeout), "tempo_key", RetryPolicy(attempts=1), 0.5
            ),
            "circle": CircleProvider(
                http_client(circle.base_url, timeout),
                "TEST_API_KEY:l:s",
                RetryPolicy(attempts=1),
                health_timeout_s=0.5,
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
        settle = {
            "scheduler": scheduler,
            "payments": StripePaymentProcessor(stripe),
            "cards": StripeCardIssuer(stripe),
            "providers": providers,
            **common,
        }
        pay = load_handler("pay")
        pay.deps = pay.compose(settings, **settle)
        destroy = load_handler("destroy")
        destroy.deps = destroy.compose(settings, settings.destroy_function_arn, **settle)
        invoices = InvoiceService(DynamoDBInvoiceRepository(dynamodb, TABLE), clock)
        who = Principal("usr_bench", "ten_bench", frozenset({"merchant"}))

        def funded_wallet(ttl: int) -> str:
            body = InvoiceCreate.model_validate(
                {
                    "customer_id": "cus_bench",
                    "currency": "USD",
                    "due_date": "2030-02-01",
                    "line_items": [LineItemInput(description="Bench", quantity=1, unit_price="10.00")],
                }
            )
            invoice_id = invoices.create(who, body).id
            event = api_event(
                "POST",
                "/api/v2/invoice-wallets/create-from-invoice",
                body={"invoice_id": invoice_id, "ttl": ttl, "mode_override": "ephemeral"},
                principal=MERCHANT,
            )
            answer = create.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
            assert answer["statusCode"] == 201, answer
            wallet_id = str(json.loads(answer["body"])["data"]["wallet"]["wallet_id"])
            event = api_event(
                "POST",
                f"/api/v2/invoice-wallets/{wallet_id}/fund",
                body={"payment_method": "pm_card_visa"},
                principal=MERCHANT,
            )
            answer = fund.lambda_handler(event, FakeLambdaContext(function_name="fund"))
            assert answer["statusCode"] == 200, answer
            return wallet_id

        results: dict[str, dict[str, int]] = {}
        # The first of each kind warms adapters (health rows, cardholder); the second is measured.
        for _ in range(2):
            wallet_id = funded_wallet(3600)
            with counting_everything() as calls:
                event = api_event(
                    "POST", f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice", body={}, principal=MERCHANT
                )
                answer = pay.lambda_handler(event, FakeLambdaContext(function_name="pay"))
            assert answer["statusCode"] == 200, answer
        results["pay"] = _print("pay-invoice in full (ephemeral: destruction included)", calls)
        for _ in range(2):
            wallet_id = funded_wallet(60)
            clock.advance(seconds=61)
            with counting_everything() as calls:
                outcome = destroy.lambda_handler(
                    {"wallet_id": wallet_id, "trigger": "schedule"},
                    FakeLambdaContext(function_name="destroy"),
                )
            assert outcome["result"] == "destroyed", outcome
        results["destroy"] = _print(
            "destroy alone (schedule trigger, unpaid funded wallet: burn + refund of the whole balance)",
            calls,
        )
        with counting_everything() as calls:
            again = destroy.lambda_handler(
                {"wallet_id": wallet_id, "trigger": "schedule"}, FakeLambdaContext(function_name="destroy")
            )
        assert again["result"] == "already_destroyed", again
        results["again"] = _print("a later trigger finding it done", calls)
        return results


def _median_max(values: list[float]) -> str:
    if not values:
        return "none measured"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def delays_through_the_runtime() -> dict[str, list[float]]:
    from tests.e2e import test_destruction_e2e as e2e
    from tests.e2e.system import project_system

    e2e.SPEED = SPEED  # the helpers convert virtual waits with it
    delays: dict[str, list[float]] = {"schedule": [], "ttl": [], "schedule_expired": [], "ttl_expired": []}
    with (
        tempfile.TemporaryDirectory() as folder,
        project_system(Path(folder), speed=SPEED) as system,
        httpx.Client(base_url=system.rest_url, timeout=60) as http,
    ):
        group = e2e.scheduler_group(system)
        scheduler = system.aws("scheduler")
        made: list[tuple[str, dict[str, Any]]] = []
        for index in range(2 * WALLETS_PER_PATH):
            path = "schedule" if index % 2 == 0 else "ttl"
            wallet = e2e.ephemeral_wallet(system, http)
            if index == 0:
                e2e.warm_destroy(system, group, wallet["wallet_id"])
            if path == "ttl":
                scheduler.delete_schedule(Name=f"destroy-{wallet['wallet_id']}", GroupName=group)
            made.append((path, wallet))
            time.sleep(SPACING)
        missing = 0
        for path, wallet in made:
            try:
                facts = e2e.await_destruction(system, wallet)
            except AssertionError:
                missing += 1
                continue
            if facts["trigger"] != path:
                note = f"{wallet['wallet_id']} meant for the {path} path, destroyed by {facts['trigger']}"
                print(f"  note: {note}")
            delays[facts["trigger"]].append(e2e.delay_of(facts))
            started = e2e.epoch(facts["started_at"]) - e2e.epoch(facts["expires_at"])
            delays[f"{facts['trigger']}_expired"].append(started)
    print(f"  speed {SPEED:g}: {WALLETS_PER_PATH} unpaid 60 s wallets per path, created {SPACING} s apart")
    print(f"  Scheduler at() path, expires_at -> destroyed: {_median_max(delays['schedule'])} (virtual)")
    print(f"                       expires_at -> expired:   {_median_max(delays['schedule_expired'])}")
    print(f"  lease TTL sweep path, expires_at -> destroyed: {_median_max(delays['ttl'])} (virtual)")
    print(f"                       expires_at -> expired:   {_median_max(delays['ttl_expired'])}")
    if missing:
        print(f"  {missing} wallet(s) not destroyed within the wait")
    return delays


def run() -> dict[str, Any]:
    started = time.perf_counter()
    saved = dict(os.environ)
    try:
        calls = calls_per_pay_and_destroy()
    finally:
        # The runtime's functions inherit this environment: they must log as `make run` does.
        os.environ.clear()
        os.environ.update(saved)
    delays = delays_through_the_runtime()
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return {"calls": calls, "delays": delays}


if __name__ == "__main__":
    run()
