"""Events through outbox -> history -> one webhook endpoint: what each event adds to DynamoDB on the state
change's own path (against moto in this process), and events per second end to end through the local
runtime (stream, bus, webhook_delivery, a receiver in this process)."""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from moto import mock_aws

from bench.pricing import item_size, write_units
from bench.support import installed, load_handler
from local.runtime.cfn_dynamodb import create_table_from_definition
from local.runtime.config import RuntimeConfig, ensure_template
from tests.e2e.conftest import start_runtime
from tests.integration.conftest import MERCHANT, FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties
from tests.support.webhook_sink import WebhookSink

CONFIG = Path(__file__).resolve().parents[1] / "local" / "runtime.toml"
BODY = {
    "customer_id": "usr_bench",
    "currency": "USD",
    "due_date": "2026-12-31",
    "line_items": [{"description": "Bench", "quantity": 1, "unit_price": "10.00"}],
}
EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
WARM_EVENTS = 10
DELIVERY_TIMEOUT = 300.0
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


# -- what one event adds to the state change's path --------------------------------------------------------
def _added_writes(transactions: list[dict[str, Any]], indexes: list[list[str]]) -> dict[str, int]:
    """Write units of the event items (the history: one item, written once, with its index entries) and of
    the sequence counters, in the create's transaction(s)."""
    units: Counter[str] = Counter()
    for params in transactions:
        for action in params["TransactItems"]:
            kind, body = next(iter(action.items()))
            pk = str((body.get("Item") or body["Key"])["pk"]["S"])
            if kind == "Put" and pk.startswith("OUTBOX#"):
                item = body["Item"]
                size = item_size(item)
                units["history item (transactional)"] += write_units(size, transactional=True)
                units["history index entries"] += sum(
                    write_units(size) for keys in indexes if all(k in item for k in keys)
                )
                units["events"] += 1
            elif kind == "Update" and pk.startswith("SEQ#"):
                # The counter is tiny (pk, sk, sequence): one unit, doubled in a transaction.
                units["sequence counter (transactional)"] += write_units(
                    item_size({**body["Key"], "sequence": {"N": "999999"}}), transactional=True
                )
    return dict(units)


def per_event_costs() -> dict[str, Any]:
    properties = table_properties(local_template())
    indexes = [[k["AttributeName"] for k in i["KeySchema"]] for i in properties["GlobalSecondaryIndexes"]]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        TABLE_NAME="WalletsTable",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    from shared.bootstrap import Adapters
    from shared.config import get_settings

    get_settings.cache_clear()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(client, properties, "WalletsTable")
        handler = load_handler("invoices")
        with installed(Adapters(get_settings(), dynamodb=client)):
            calls: Counter[str] = Counter()
            transactions: list[dict[str, Any]] = []

            def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
                operation = event_name.rsplit(".", 1)[-1]
                calls[operation] += 1
                if operation == "TransactWriteItems":
                    transactions.append(params)

            event = api_event("POST", "/api/v1/invoices", body=BODY, principal=MERCHANT)
            assert handler.lambda_handler(event, FakeLambdaContext())["statusCode"] == 201  # warm
            client.meta.events.register("before-parameter-build.dynamodb", count)
            answer = handler.lambda_handler(
                api_event("POST", "/api/v1/invoices", body=BODY, principal=MERCHANT), FakeLambdaContext()
            )
            assert answer["statusCode"] == 201, answer
    added = _added_writes(transactions, indexes)
    return {
        "calls": dict(calls),
        "write_round_trips": sum(n for op, n in calls.items() if op in WRITES),
        "sequence_reads": calls.get("BatchGetItem", 0),
        "operations_in_transaction": [len(t["TransactItems"]) for t in transactions],
        "units": added,
    }


# -- events per second through the runtime -----------------------------------------------------------------
def _commit_events(runtime: Any, count: int) -> float:
    """`count` invoice.created events committed the way every state change commits them (transact_write,
    sequences assigned), 10 a transaction, straight into the runtime's table; returns the seconds taken.
    Committing directly keeps the REST path's own cost out of the pipeline's number."""
    from shared.adapters.dynamodb_events import transact_write
    from shared.adapters.dynamodb_table import put_new
    from shared.ids import new_id
    from shared.outbox.records import Resource, domain_event

    client = runtime.aws("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "WalletsTable" in n)
    started = time.monotonic()
    for first in range(0, count, 10):
        events = []
        for _ in range(min(10, count - first)):
            invoice = new_id("inv")
            data = {"tenant_id": "ten_demo", "invoice_id": invoice, "status": "draft"}
            now = datetime.now(UTC)
            events.append(
                domain_event(
                    "invoice.created",
                    [f"invoice:{invoice}", "admin"],
                    data,
                    now,
                    resource=Resource("invoice", invoice),
                )
            )
        transact_write(client, [put_new(table, e) for e in events])
    return time.monotonic() - started


def _wait(sink: WebhookSink, count: int) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while len(sink.received) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(sink.received)} of {count} webhooks arrived in {DELIVERY_TIMEOUT:.0f} s"
            )
        time.sleep(0.02)


def _event_time(body: bytes) -> float:
    stamp = str(json.loads(body)["timestamp"])
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def through_runtime() -> dict[str, float]:
    config = RuntimeConfig.load(CONFIG)
    template = config.template
    assert template is not None
    # Synthesized first when the sources changed: minutes that are not the runtime's start.
    ensure_template(template, config, logging.getLogger("bench"))
    sink = WebhookSink().start()
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            start_runtime(template, CONFIG, Path(folder)) as runtime,
        ):
            headers = {"Authorization": f"Bearer {runtime.tokens['merchant']}"}
            with httpx.Client(base_url=runtime.rest_url, timeout=60) as http:
                while http.get("/health").status_code != 200:
                    time.sleep(0.05)
                made = http.post(
                    "/api/v1/webhook-endpoints",
                    json={"url": sink.url, "enabled_events": ["invoice.created"]},
                    headers=headers,
                )
                assert made.status_code == 201, made.text
            _commit_events(runtime, WARM_EVENTS)  # the stream, bus and delivery workers started
            _wait(sink, WARM_EVENTS)
            sink.received.clear()
            offset = time.time() - time.monotonic()
            started = time.monotonic()
            committing = _commit_events(runtime, EVENTS)
            _wait(sink, EVENTS)
            elapsed = max(r.at for r in sink.received) - started
            lags = sorted(r.at + offset - _event_time(r.body) for r in sink.received)
            ids = {r.headers["webhook-id"] for r in sink.received}
    finally:
        sink.stop()
    return {
        "events": EVENTS,
        "committed_per_second": EVENTS / committing,
        "delivered_per_second": EVENTS / elapsed,
        "lag_p50_s": statistics.median(lags),
        "lag_p95_s": lags[min(len(lags) - 1, int(0.95 * len(lags)))],
        "duplicates": len(sink.received) - len(ids),
    }


def run() -> dict[str, Any]:
    costs = per_event_costs()
    units = costs["units"]
    events = units.pop("events", 1)
    print(
        f"  invoice create (1 event): DynamoDB calls {costs['calls']}: the event (history item) and its"
        f" sequence counter ride the state change's own TransactWriteItems"
        f" ({costs['operations_in_transaction']} operations, 1 call): no extra write round trip;"
        f" the sequence adds {costs['sequence_reads']} consistent BatchGetItem read before it"
    )
    per_event = {name: value / events for name, value in units.items()}
    print(
        "  write units added per event: "
        + ", ".join(f"{name} {value:g}" for name, value in per_event.items())
        + f" -> {sum(per_event.values()):g} WCU"
    )
    measured = through_runtime()
    print(
        f"  local runtime, {measured['events']:.0f} events committed (10 a transaction) to one endpoint:"
        f" committed {measured['committed_per_second']:.0f}/s,"
        f" delivered {measured['delivered_per_second']:.1f}/s"
        f" through stream -> bus -> webhook_delivery; commit -> received p50 {measured['lag_p50_s']:.2f} s,"
        f" p95 {measured['lag_p95_s']:.2f} s; {measured['duplicates']:.0f} duplicates"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    return {**costs, "runtime": measured}


if __name__ == "__main__":
    run()
