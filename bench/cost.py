"""AWS cost per paid ephemeral invoice, in-process on moto with the Stripe, Tempo and Circle stand-ins.

One whole life, through each function's `lambda_handler`: the merchant creates the invoice (invoices), opens
a WebSocket and subscribes to it (realtime), creates its ephemeral wallet (create_wallet), the payer funds it
(fund) and pays it (pay, which destroys the wallet). Every OUTBOX item written reaches the stream function
in the batch of the request that wrote it, each PutEvents entry reaches realtime through the bus rule, and a
schedule left behind would fire destroy. Lambda durations are the handlers' wall time here; memory is each
function's MemorySize in the synthesized template. DynamoDB request units come from the items measured in
moto (bench.dynamodb_meter). A first life warms the process (cardholder, provider health rows, secrets);
the second is priced with bench/prices.json. Stripe and provider fees are not AWS costs: only counted.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import jwt

from bench.dynamodb_meter import CapacityMeter, metering
from bench.lambda_env import function_environments
from bench.lambda_events import bus_event, stream_event, websocket_event
from bench.money import MERCHANT, bench_environment, counting_with_providers, money_rig
from bench.pricing import (
    EVENTBRIDGE_CHUNK_BYTES,
    WEBSOCKET_MESSAGE_BYTES,
    chunks,
    cost_lines,
    lambda_gb_seconds,
    load_prices,
    total,
)
from bench.support import load_handler
from shared.config import get_settings
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import local_template

TARGET_USD = Decimal("0.0002")
# The model's assumptions beyond what the run measures.
WEBSOCKET_PUSHES = 10  # pushes one subscriber receives over the invoice's life (updates and countdown ticks)
CONNECTION_MINUTES = 10  # the merchant's page stays connected that long
# REST authorizer answers are cached 300 s per token: one for the merchant's token, one for the payer's.
REST_AUTHORIZER_CALLS = 2
REST_FUNCTIONS = ("invoices", "create_wallet", "fund", "pay")
# What production latency would add to the measured durations (the stand-ins answer on localhost).
STRIPE_CALL_S = Decimal("0.3")
PROVIDER_CALL_S = Decimal("0.2")
BUS = "MonayWallets-bus"
WS_CALLBACK_URL = "https://wsapi.execute-api.us-east-1.amazonaws.com/prod"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
INVOICE = {
    "customer_id": "cus_bench",
    "currency": "USD",
    "due_date": "2030-02-01",
    "line_items": [{"description": "Bench", "quantity": 1, "unit_price": "10.00"}],
}
# Scheduler bills invocations, not its API; DynamoDB Streams reads by Lambda are free.
FREE_CALLS = ("scheduler.", "dynamodbstreams.")
NOT_COUNTED = (
    "CloudWatch Logs ingestion, X-Ray traces (active tracing), Stripe webhooks to the webhooks function,"
    " DynamoDB storage and PITR, the per-minute countdown tick (shared by every wallet)"
)


@dataclass
class Invocation:
    function: str
    duration_ms: float
    calls: Counter[str]


@dataclass
class Life:
    invocations: list[Invocation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scheduler_invocations: int = 0
    subscribe_messages: int = 0


class Run:
    """One life's Lambda invocations, timed, with the calls each made."""

    def __init__(self, calls: Counter[str], meter: CapacityMeter) -> None:
        self.calls = calls
        self.meter = meter
        self.life = Life()

    def invoke(self, function: str, handler: ModuleType, event: dict[str, Any]) -> Any:
        before = Counter(self.calls)
        started = time.perf_counter()
        try:
            return handler.lambda_handler(event, FakeLambdaContext(function_name=function))
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.life.invocations.append(Invocation(function, elapsed, self.calls - before))

    def step(self, label: str, action: Callable[[], Any]) -> Any:
        """Run one step; an error is recorded and printed, and the life goes on where it can."""
        try:
            return action()
        except Exception as exc:
            self.life.errors.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
            traceback.print_exc(limit=3)
            return None


def _rest(run: Run, function: str, handler: ModuleType, method: str, path: str, body: Any, code: int) -> Any:
    answer = run.invoke(function, handler, api_event(method, path, body=body, principal=MERCHANT))
    if answer["statusCode"] != code:
        raise RuntimeError(f"{function} answered {answer['statusCode']}: {answer['body'][:200]}")
    return json.loads(answer["body"])["data"]


def one_life(run: Run, handlers: dict[str, ModuleType], rig: Any) -> None:
    authorizer_event = {
        "type": "TOKEN",
        "authorizationToken": "Bearer " + _token(),
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/POST/api/v1/invoices",
    }
    for _ in range(REST_AUTHORIZER_CALLS):
        run.step("authorizer", lambda: run.invoke("authorizer", handlers["authorizer"], authorizer_event))
    invoice = run.step(
        "invoices",
        lambda: _rest(run, "invoices", handlers["invoices"], "POST", "/api/v1/invoices", INVOICE, 201),
    )
    if invoice is None:
        return
    invoice_id = invoice["invoice"]["id"]
    connection = f"conn-{invoice_id}"
    realtime = handlers["realtime"]
    # The WebSocket $connect runs the REQUEST authorizer too (not cached for WebSocket connects).
    run.step("authorizer (ws)", lambda: run.invoke("authorizer", handlers["authorizer"], authorizer_event))
    run.step(
        "$connect",
        lambda: run.invoke("realtime", realtime, websocket_event("$connect", connection, None, MERCHANT)),
    )
    message = json.dumps({"action": "subscribe", "channel": f"invoice:{invoice_id}"})
    run.step(
        "subscribe",
        lambda: run.invoke("realtime", realtime, websocket_event("subscribe", connection, message)),
    )
    run.life.subscribe_messages += 2  # the message in and its route response out
    body = {"invoice_id": invoice_id, "ttl": 3600, "mode_override": "ephemeral"}
    path = "/api/v2/invoice-wallets/create-from-invoice"
    wallet = run.step(
        "create_wallet", lambda: _rest(run, "create_wallet", rig.create, "POST", path, body, 201)
    )
    if wallet is None:
        return
    wallet_id = wallet["wallet"]["wallet_id"]
    fund_path = f"/api/v2/invoice-wallets/{wallet_id}/fund"
    run.step(
        "fund",
        lambda: _rest(run, "fund", rig.fund, "POST", fund_path, {"payment_method": "pm_card_visa"}, 200),
    )
    pay_path = f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice"
    run.step("pay", lambda: _rest(run, "pay", handlers["pay"], "POST", pay_path, {}, 200))
    _leftover_schedule(run, handlers["destroy"], rig, wallet_id)
    _deliver_events(run, handlers)
    run.step(
        "$disconnect", lambda: run.invoke("realtime", realtime, websocket_event("$disconnect", connection))
    )


def _leftover_schedule(run: Run, destroy: ModuleType, rig: Any, wallet_id: str) -> None:
    """A schedule still there after paying fires at expiry: one Scheduler invocation and one destroy."""
    names = [
        s["Name"]
        for s in rig.scheduler.list_schedules(GroupName=rig.settings.schedule_group_name)["Schedules"]
    ]
    if any(wallet_id in name for name in names):
        run.life.scheduler_invocations += 1
        event = {"wallet_id": wallet_id, "trigger": "schedule"}
        run.step("destroy (schedule)", lambda: run.invoke("destroy", destroy, event))


def _deliver_events(run: Run, handlers: dict[str, ModuleType]) -> None:
    """Stream batches as the writes made them, then each bus entry they published to realtime (the rule
    target is invoked once per event). Events published while delivering are delivered too."""
    delivered_batches = delivered_entries = 0
    sequence = 1
    while delivered_batches < len(run.meter.outbox_batches) or delivered_entries < len(run.meter.bus_entries):
        while delivered_batches < len(run.meter.outbox_batches):
            batch = run.meter.outbox_batches[delivered_batches]
            delivered_batches += 1
            event = stream_event(batch, sequence)
            sequence += len(batch)
            run.step("stream", lambda event=event: run.invoke("stream", handlers["stream"], event))
        while delivered_entries < len(run.meter.bus_entries):
            entry = run.meter.bus_entries[delivered_entries]
            delivered_entries += 1
            event = bus_event(entry)
            run.step(
                "realtime (bus)", lambda event=event: run.invoke("realtime", handlers["realtime"], event)
            )


def _token() -> str:
    now = int(time.time())
    claims = {"sub": MERCHANT["sub"], "tenant_id": MERCHANT["tenant_id"], "roles": ["merchant"]}
    return jwt.encode({**claims, "iat": now, "exp": now + 3600}, JWT_SECRET, algorithm="HS256")


def usage_of(run: Run, memory: dict[str, int]) -> dict[str, Decimal]:
    """Billable quantities of one life, by price key."""
    life, meter, calls = run.life, run.meter, _calls_of(run.life)
    pushes = WEBSOCKET_PUSHES * chunks(max(meter.push_bytes or [0]), WEBSOCKET_MESSAGE_BYTES)
    events = sum(
        chunks(len(json.dumps(entry).encode()), EVENTBRIDGE_CHUNK_BYTES) for entry in meter.bus_entries
    )
    return {
        "lambda_gb_seconds": sum(
            (lambda_gb_seconds(memory[i.function], i.duration_ms) for i in life.invocations), Decimal(0)
        ),
        "lambda_requests": Decimal(len(life.invocations)),
        "apigw_rest_requests": Decimal(sum(1 for i in life.invocations if i.function in REST_FUNCTIONS)),
        "apigw_ws_messages": Decimal(life.subscribe_messages + pushes),
        "apigw_ws_connection_minutes": Decimal(CONNECTION_MINUTES),
        "dynamodb_write_units": meter.total_write_units,
        "dynamodb_read_units": meter.total_read_units,
        "dynamodb_stream_reads_by_lambda": Decimal(
            sum(1 for i in life.invocations if i.function == "stream")
        ),
        "kms_requests": Decimal(sum(n for k, n in calls.items() if k.startswith("kms."))),
        "eventbridge_events": Decimal(events),
        "scheduler_invocations": Decimal(life.scheduler_invocations),
        "secretsmanager_api_calls": Decimal(
            sum(n for k, n in calls.items() if k.startswith("secretsmanager."))
        ),
    }


def _calls_of(life: Life) -> Counter[str]:
    calls: Counter[str] = Counter()
    for invocation in life.invocations:
        calls.update(invocation.calls)
    return calls


PRICED = ("dynamodb.", "kms.", "events.PutEvents", "apigatewaymanagementapi.", "secretsmanager.")


def report(run: Run, memory: dict[str, int]) -> Decimal:
    prices = load_prices()
    lines = cost_lines(usage_of(run, memory), prices)
    amount = total(lines)
    verdict = "ok" if amount <= TARGET_USD else "OVER"
    largest = ", ".join(f"{line.label} ${line.usd:.7f} ({line.usd / amount:.0%})" for line in lines[:3])
    print(
        f"  AWS cost per paid ephemeral invoice: ${amount:.6f} (target <= ${TARGET_USD}) {verdict};", end=""
    )
    print(f" largest: {largest}")
    for line in lines:
        print(f"    ${line.usd:.7f}  {line.label}: {line.quantity.normalize():f} x {line.unit}")
    by_function: dict[str, list[float]] = {}
    for invocation in run.life.invocations:
        by_function.setdefault(invocation.function, []).append(invocation.duration_ms)
    print(
        "  lambda invocations: "
        + ", ".join(
            f"{f} {len(d)} x {sum(d) / len(d):.0f} ms @ {memory[f]} MB"
            for f, d in sorted(by_function.items())
        )
    )
    calls = _calls_of(run.life)
    aws = {k: n for k, n in calls.items() if not k.startswith(("stripe.", "provider."))}
    print("  AWS calls: " + ", ".join(f"{n} {k}" for k, n in sorted(aws.items())))
    meter = run.meter
    reads = {k: float(v) for k, v in meter.read_units.items()}
    print(
        f"  DynamoDB: {meter.total_write_units} WRU {dict(meter.write_units)},"
        f" {meter.total_read_units.normalize():f} RRU {reads}"
    )
    print(
        f"  outbox: {sum(map(len, meter.outbox_batches))} OUTBOX items in {len(meter.outbox_batches)} stream"
        f" batch(es) -> {len(meter.bus_entries)} bus event(s) -> {len(meter.push_bytes)} push(es) measured"
        f" ({WEBSOCKET_PUSHES} priced)"
    )
    unpriced = sorted(k for k in aws if not k.startswith(PRICED + FREE_CALLS))
    if unpriced:
        print(f"  unpriced AWS calls: {unpriced}")
    stripe = sum(n for k, n in calls.items() if k.startswith("stripe."))
    provider = sum(n for k, n in calls.items() if k.startswith("provider."))
    print(f"  not AWS (fees left out): {stripe} Stripe and {provider} provider calls")
    extra = sum(
        (
            Decimal(memory[i.function])
            / 1024
            * (STRIPE_CALL_S * _count(i.calls, "stripe.") + PROVIDER_CALL_S * _count(i.calls, "provider."))
            for i in run.life.invocations
        ),
        Decimal(0),
    )
    extra_usd = prices.prices["lambda_gb_seconds"].cost(extra)
    print(
        f"  with production latency for those calls ({STRIPE_CALL_S} s Stripe, {PROVIDER_CALL_S} s provider):"
        f" +{extra.normalize():f} GB-s, +${extra_usd:.7f} -> ${amount + extra_usd:.6f}"
    )
    print(f"  prices as of {prices.as_of} ({prices.region}, bench/prices.json); not counted: {NOT_COUNTED}")
    for error in run.life.errors:
        print(f"  error (the total above is incomplete): {error}")
    return amount


def _count(calls: Counter[str], prefix: str) -> int:
    return sum(n for k, n in calls.items() if k.startswith(prefix))


def _handlers(rig: Any) -> dict[str, ModuleType]:
    """The functions the rig does not load: the authorizer as Lambda loads it, from the environment; the
    others (invoices, realtime, stream, pay, destroy) over the process's composition root, reinstalled over
    the rig's stand-ins with the rig's settings plus what the environment adds (bus, WebSocket callback,
    secrets), as one process serving every function."""
    rig.install(
        rig.settings.model_copy(
            update={
                "event_bus_name": BUS,
                "ws_callback_url": WS_CALLBACK_URL,
                "jwt_secret_arn": os.environ["JWT_SECRET_ARN"],
                "payment_link_secret_arn": os.environ["PAYMENT_LINK_SECRET_ARN"],
                "stripe_secret_arn": os.environ["STRIPE_SECRET_ARN"],
            }
        )
    )
    return {
        name: load_handler(name)
        for name in ("invoices", "authorizer", "realtime", "stream", "pay", "destroy")
    }


def run() -> Decimal | None:
    memory = {folder: f.memory_mb for folder, f in function_environments(local_template()).items()}
    saved = dict(os.environ)
    try:
        bench_environment(POWERTOOLS_METRICS_DISABLED_EMF="true")
        with money_rig(attempts=1) as rig:
            secrets = boto3.client("secretsmanager", region_name="us-east-1")
            jwt_arn = secrets.create_secret(Name="JwtSecret", SecretString=JWT_SECRET)["ARN"]
            link_arn = secrets.create_secret(Name="PaymentLinkSecret", SecretString="bench-link-secret")[
                "ARN"
            ]
            stripe = json.dumps({"stripe_secret_key": "sk_test_bench"})
            stripe_arn = secrets.create_secret(Name="StripeSecret", SecretString=stripe)["ARN"]
            boto3.client("events", region_name="us-east-1").create_event_bus(Name=BUS)
            os.environ.update(
                TABLE_NAME=rig.settings.table_name,
                EVENT_BUS_NAME=BUS,
                WS_CALLBACK_URL=WS_CALLBACK_URL,
                JWT_SECRET_ARN=jwt_arn,
                PAYMENT_LINK_SECRET_ARN=link_arn,
                STRIPE_SECRET_ARN=stripe_arn,
            )
            get_settings.cache_clear()
            handlers = _handlers(rig)
            reader = boto3.client("dynamodb", region_name="us-east-1")
            for attempt in ("warm", "measured"):
                # Powertools' EMF lines and INFO logs (a logger configured by an earlier bench in the same
                # process keeps its level and stream) would bury the report.
                logging.disable(logging.INFO)
                try:
                    with (
                        counting_with_providers() as calls,
                        metering(reader) as meter,
                        contextlib.redirect_stdout(io.StringIO()),
                    ):
                        life = Run(calls, meter)
                        one_life(life, handlers, rig)
                finally:
                    logging.disable(logging.NOTSET)
                if attempt == "measured":
                    return report(life, memory)
    except Exception:
        traceback.print_exc(limit=5)
        print("  cost bench failed before a measured life")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
    return None


if __name__ == "__main__":
    run()
