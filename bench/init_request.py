"""Init + first request of each function against moto: a fresh interpreter per sample, the function's
environment as deployed (bench.cold_import) pointed at a moto server through AWS_ENDPOINT_URL, then
`import handler` and one cheap representative `lambda_handler(event, context)` that runs the function's real
init path (its settings, clients and the routes' validation). Printed as ms and as a ratio to a bare
`import boto3` in the same environment. Prints numbers; never asserts.

The bench process's own environment is never touched: each child gets its environment by `env=`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jwt
from boto3.dynamodb.types import TypeSerializer
from moto.server import ThreadedMotoServer

from bench.cold_import import deployed_environment
from bench.lambda_env import ACCOUNT, REGION, FunctionEnvironment, function_environments, resolve
from bench.lambda_events import bus_event, sqs_event, stream_event, websocket_event
from local.runtime.cfn_dynamodb import create_table_from_definition
from shared.adapters.dynamodb_events import event_item
from shared.outbox.publisher import EVENT_SOURCE
from shared.outbox.records import Resource, domain_event

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 3
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
# Secret values by the construct name in the secret's logical id (infra/security.py).
SECRET_VALUES = {
    "JwtSecret": JWT_SECRET,
    "PaymentLinkSecret": "bench-payment-link-secret",
    "StripeSecret": json.dumps(
        {"stripe_secret_key": "sk_test_bench", "stripe_webhook_secret": "whsec_bench"}
    ),
    "ProvidersSecret": json.dumps(
        {"tempo_api_key": "tempo_bench_key", "circle_api_key": "TEST_API_KEY:bench:circle"}
    ),
}
MERCHANT = {"sub": "usr_bench", "tenant_id": "ten_bench", "roles": "merchant"}
ADMIN = {"sub": "usr_bench_admin", "tenant_id": "ten_bench", "roles": "admin"}
OPERATOR = {"sub": "usr_bench_operator", "tenant_id": "ten_platform", "roles": "operator"}
CONSUMER = {"sub": "usr_bench_consumer", "tenant_id": "ten_bench", "roles": "consumer"}
MISSING_INVOICE = "inv_" + "0" * 24
MISSING_WALLET = "wal_" + "0" * 24
MARK = "BENCH-RESULT "

_CHILD = """
import json, sys, time
sys.path[:0] = {path!r}
event = json.loads(sys.stdin.read())

class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = {memory}
    invoked_function_arn = {arn!r}
    aws_request_id = "bench-request-1"
    log_group_name = "/aws/lambda/" + {name!r}
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 30000

started = time.perf_counter()
import handler
imported = time.perf_counter()
try:
    answer = handler.lambda_handler(event, Context())
    outcome = answer.get("statusCode", answer.get("result", "ok")) if isinstance(answer, dict) else "ok"
    if isinstance(answer, dict) and "batchItemFailures" in answer:
        outcome = str(len(answer["batchItemFailures"])) + " batch item failure(s)"
except Exception as exc:
    outcome = "raised " + type(exc).__name__ + ": " + str(exc)[:80]
done = time.perf_counter()
report = {{"import": imported - started, "total": done - started, "outcome": str(outcome)}}
print({mark!r} + json.dumps(report))
"""


_BASELINE = """
import time
started = time.perf_counter()
import boto3
print({mark!r} + str(time.perf_counter() - started))
"""


@dataclass
class Samples:
    imports: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    outcome: str = ""
    error: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    port = _free_port()
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


def create_resources(template: dict[str, Any], url: str) -> dict[str, dict[str, str]]:
    """The template's tables, keys, secrets, bus and schedule group in the moto server; the physical ids
    that replace the placeholders (key ids and secret ARNs are moto's own)."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=url)  # type: ignore[call-overload]

    physical: dict[str, dict[str, str]] = {}
    for lid, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::KMS::Key":
            meta = client("kms").create_key(Description=lid)["KeyMetadata"]
            physical[lid] = {"Ref": meta["KeyId"], "Arn": meta["Arn"]}
        elif kind == "AWS::SecretsManager::Secret":
            value = next(v for name, v in SECRET_VALUES.items() if name in lid)
            arn = client("secretsmanager").create_secret(Name=lid, SecretString=value)["ARN"]
            physical[lid] = {"Ref": arn, "Arn": arn}
    for lid, resource in template["Resources"].items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            create_table_from_definition(client("dynamodb"), props, resolve({"Ref": lid}, template, physical))
        elif kind == "AWS::Events::EventBus":
            client("events").create_event_bus(Name=resolve({"Ref": lid}, template, physical))
        elif kind == "AWS::Scheduler::ScheduleGroup":
            client("scheduler").create_schedule_group(Name=resolve({"Ref": lid}, template, physical))
    return physical


def _rest(method: str, path: str, **kwargs: Any) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        from tests.integration.conftest import api_event

        return api_event(method, path, **kwargs)

    return build


def _authorizer_event() -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": "usr_bench",
        "tenant_id": "ten_bench",
        "roles": ["merchant"],
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123defg/prod/GET/health"
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": arn}


def _stream_event() -> dict[str, Any]:
    event = domain_event(
        "wallet:created",
        ["invoice:inv_bench"],
        {"wallet_id": "wal_bench"},
        datetime.now(UTC),
        resource=Resource("wallet", "wal_bench"),
    )
    item = {**event_item(event), "sequence": 1}
    serializer = TypeSerializer()
    return stream_event([{name: serializer.serialize(value) for name, value in item.items()}])


def _bus_event_of_unknown() -> dict[str, Any]:
    detail = {
        "event": "invoice.created",
        "channels": ["admin"],
        "data": {"tenant_id": "ten_bench"},
        "ts": datetime.now(UTC).isoformat(),
        "event_id": "evt_" + "0" * 24,
    }
    return bus_event({"DetailType": "invoice.created", "Source": EVENT_SOURCE, "Detail": json.dumps(detail)})


def _import_message_of_unknown() -> dict[str, Any]:
    body = json.dumps({"import_id": "imp_" + "0" * 24, "batch": 0})
    return sqs_event([body])


# One cheap request per function that still runs its real init path (settings, clients, routing, models).
EVENTS: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "authorizer": ("TOKEN authorizer, a valid JWT", _authorizer_event),
    "health": ("GET /health", _rest("GET", "/health", principal=None)),
    "invoices": ("GET /api/v1/invoices/{missing}", _rest("GET", f"/api/v1/invoices/{MISSING_INVOICE}")),
    "create_wallet": (
        "POST create-from-invoice, missing invoice",
        _rest(
            "POST",
            "/api/v2/invoice-wallets/create-from-invoice",
            body={"invoice_id": MISSING_INVOICE},
            principal=MERCHANT,
        ),
    ),
    "fund": (
        "POST {missing}/fund",
        _rest(
            "POST",
            f"/api/v2/invoice-wallets/{MISSING_WALLET}/fund",
            body={"payment_method": "pm_card_visa"},
            principal=MERCHANT,
        ),
    ),
    "pay": (
        "POST {missing}/pay-invoice",
        _rest("POST", f"/api/v2/invoice-wallets/{MISSING_WALLET}/pay-invoice", body={}, principal=MERCHANT),
    ),
    "wallets": (
        "GET /api/v2/invoice-wallets/{missing}",
        _rest("GET", f"/api/v2/invoice-wallets/{MISSING_WALLET}", principal=MERCHANT),
    ),
    "reconcile": (
        "GET reconciliations (operator)",
        _rest("GET", "/api/v2/reserve/reconciliations", principal=OPERATOR),
    ),
    "providers": ("GET /api/v1/providers/health", _rest("GET", "/api/v1/providers/health", principal=ADMIN)),
    "webhooks": (
        "POST /webhooks/stripe unsigned",
        _rest("POST", "/webhooks/stripe", body={}, principal=None),
    ),
    "consumer": (
        "GET /api/consumer/balance, not onboarded",
        _rest("GET", "/api/consumer/balance", principal=CONSUMER),
    ),
    "consumer_requests": (
        "POST /api/consumer/requests/{missing}/decline",
        _rest("POST", f"/api/consumer/requests/{MISSING_INVOICE}/decline", principal=CONSUMER),
    ),
    "consumer_swaps": (
        "POST /api/consumer/swap/quote, not onboarded",
        _rest(
            "POST",
            "/api/consumer/swap/quote",
            body={"from": "USDC", "to": "EURC", "amount": "10.00"},
            principal=CONSUMER,
        ),
    ),
    "consumer_transfers": (
        "GET /api/consumer/batch-transfer/{missing}",
        _rest("GET", "/api/consumer/batch-transfer/bat_" + "0" * 24, principal=CONSUMER),
    ),
    "audit_views": ("GET /api/v1/audit (admin)", _rest("GET", "/api/v1/audit", principal=ADMIN)),
    "events": ("GET /api/v1/events", _rest("GET", "/api/v1/events", principal=MERCHANT)),
    "webhook_endpoints": (
        "GET /api/v1/webhook-endpoints",
        _rest("GET", "/api/v1/webhook-endpoints", principal=MERCHANT),
    ),
    "webhook_delivery": ("bus event of an unknown history event", _bus_event_of_unknown),
    "invoice_batches": (
        "POST /api/v1/invoices/bulk, no invoices",
        _rest("POST", "/api/v1/invoices/bulk", body={"invoices": []}, principal=MERCHANT),
    ),
    "payouts": (
        "GET /api/v1/payouts/{missing}",
        _rest("GET", "/api/v1/payouts/po_" + "0" * 24, principal=MERCHANT),
    ),
    "payout_worker": (
        "Scheduler at() run of a missing payout",
        lambda: {"payout_id": "po_" + "0" * 24},
    ),
    "invoice_imports": ("SQS batch message of an unknown import", _import_message_of_unknown),
    "invoice_schedules": (
        "scheduled run, nothing due",
        lambda: {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
    ),
    "consumer_money": (
        "POST /api/consumer/deposit, not onboarded",
        _rest(
            "POST",
            "/api/consumer/deposit",
            body={"amount": "10.00", "payment_method": "pm_card_visa"},
            principal=CONSUMER,
        ),
    ),
    "stream": ("one OUTBOX INSERT record", _stream_event),
    "realtime": ("WebSocket $connect", lambda: websocket_event("$connect", uuid.uuid4().hex, None, MERCHANT)),
    "destroy": (
        "schedule trigger, missing wallet",
        lambda: {"wallet_id": MISSING_WALLET, "trigger": "schedule"},
    ),
    "consumer_kyc": (
        "POST /api/consumer/upgrade-kyc, not onboarded",
        _rest("POST", "/api/consumer/upgrade-kyc", body={"level": 2}, principal=CONSUMER),
    ),
    "sweeper": (
        "scheduled run, nothing due",
        lambda: {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
    ),
}


def _sample(function: FunctionEnvironment | None, env: dict[str, str], event: Any, into: Samples) -> None:
    if into.error is not None:
        return
    if function is None:
        code = _BASELINE.format(mark=MARK)
        path: list[str] = []
    else:
        path = [str(ROOT / "functions" / function.folder), str(ROOT)]
        name = env["AWS_LAMBDA_FUNCTION_NAME"]
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        code = _CHILD.format(path=path, name=name, memory=function.memory_mb, arn=arn, mark=MARK)
    answer = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in answer.stdout.splitlines() if line.startswith(MARK)]
    if answer.returncode != 0 or not lines:
        tail = answer.stderr.strip().splitlines() or [f"exit {answer.returncode}"]
        into.error = tail[-1][:160]
        return
    report = lines[-1][len(MARK) :]
    if function is None:
        into.totals.append(float(report))
        return
    data = json.loads(report)
    into.imports.append(float(data["import"]))
    into.totals.append(float(data["total"]))
    into.outcome = str(data["outcome"])


def run() -> dict[str, float]:
    from tests.support.template import local_template

    template = local_template()
    folders = sorted(p.parent.name for p in ROOT.glob("functions/*/handler.py"))
    # WALLETS_BENCH_FUNCTIONS=a,b measures only those (a quick check of one function's line).
    if only := [name for name in os.environ.get("WALLETS_BENCH_FUNCTIONS", "").split(",") if name]:
        folders = [folder for folder in folders if folder in only]
    ratios: dict[str, float] = {}
    with moto_server() as url:
        physical = create_resources(template, url)
        functions = function_environments(template, physical)
        reference = functions.get("health") or next(iter(functions.values()))
        baseline = Samples()
        samples = {folder: Samples() for folder in folders}
        for _ in range(REPEAT):
            _sample(None, deployed_environment(reference, AWS_ENDPOINT_URL=url), None, baseline)
            for folder in folders:
                if folder not in functions or folder not in EVENTS:
                    samples[folder].error = "no template function or no event for it"
                    continue
                env = deployed_environment(functions[folder], AWS_ENDPOINT_URL=url)
                try:
                    event = EVENTS[folder][1]()
                except Exception as exc:  # one function's event must not stop the others
                    samples[folder].error = f"building the event: {exc!r}"[:160]
                    continue
                _sample(functions[folder], env, event, samples[folder])
    if baseline.error is not None or not baseline.totals:
        print(f"  `import boto3` failed: {baseline.error}")
        return ratios
    base = statistics.median(baseline.totals)
    print(
        f"  median of {REPEAT} fresh processes against a moto server; `import boto3` {base * 1000:.0f} ms;"
        " import + first request, ratio to it, the request"
    )
    for folder in folders:
        result = samples[folder]
        if result.error is not None:
            print(f"  {folder:<14} error: {result.error}")
            continue
        first = statistics.median(result.totals)
        imported = statistics.median(result.imports)
        ratios[folder] = first / base
        print(
            f"  {folder:<14} {first * 1000:6.0f} ms {ratios[folder]:5.2f}x"
            f"  (import {imported * 1000:4.0f} + request {(first - imported) * 1000:4.0f})"
            f"  {EVENTS[folder][0]} -> {result.outcome}"
        )
    return ratios


if __name__ == "__main__":
    run()
