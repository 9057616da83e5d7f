"""Fan-out and countdown tick through the real @connections client against a stub endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from boto3.dynamodb.conditions import Key
from moto import mock_aws

from functions.realtime import handler as realtime
from shared import bootstrap
from shared.adapters.connections import DynamoConnectionStore
from shared.config import get_settings
from shared.realtime.ports import Subscriber, Viewer
from tests.integration.test_realtime_handler import LambdaContext, connect, put_invoice, send
from tests.integration.test_realtime_table import TABLE_NAME, create_wallets_table

STAGE_PATH = "/prod/@connections/"


@dataclass
class StubConnections:
    """API Gateway's @connections, reduced to what the pusher uses: 410 for gone ids, else 200."""

    gone: set[str] = field(default_factory=set)
    port: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for conn, message in self.received if conn == connection_id]


def serve(stub: StubConnections) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if not self.path.startswith(STAGE_PATH):
                self.send_response(404)
                self.end_headers()
                return
            connection_id = unquote(self.path[len(STAGE_PATH) :])
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if connection_id in stub.gone:
                payload = b'{"message":"Gone"}'
                self.send_response(410)
                self.send_header("x-amzn-ErrorType", "GoneException")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            stub.received.append((connection_id, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on what arrived, not on access logs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


@pytest.fixture
def stub() -> Iterator[StubConnections]:
    connections = StubConnections()
    server = serve(connections)
    connections.port = server.server_address[1]
    yield connections
    server.shutdown()
    server.server_close()


@pytest.fixture
def table(stub: StubConnections, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("WS_CALLBACK_URL", f"http://127.0.0.1:{stub.port}/prod")
    get_settings.cache_clear()
    bootstrap.reset()
    # moto answers every AWS call except the posts to the stub, which must really leave the process.
    config = {
        "core": {
            "mock_credentials": True,
            "reset_boto3_session": True,
            "service_whitelist": None,
            "passthrough": {"urls": [r"http://127\.0\.0\.1:\d+/.*"], "services": []},
        }
    }
    with mock_aws(config=config):  # type: ignore[arg-type]
        yield create_wallets_table()
    get_settings.cache_clear()
    bootstrap.reset()


def bus_event(event: str, channels: list[str], data: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "eb-1",
        "detail-type": event,
        "source": "monay.wallets",
        "account": "123456789012",
        "time": "2026-03-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "event": event,
            "channels": channels,
            "data": data,
            "ts": "2026-03-01T12:00:00.000Z",
            "event_id": event_id,
        },
    }


def publish(event: str, channel: str, data: dict[str, Any], event_id: str) -> dict[str, Any]:
    result: dict[str, Any] = realtime.lambda_handler(
        bus_event(event, [channel], data, event_id), LambdaContext()
    )
    return result


def connection_items(table: Any, connection_id: str) -> list[dict[str, Any]]:
    return table.query(KeyConditionExpression=Key("pk").eq(f"CONN#{connection_id}"))["Items"]


def test_fan_out_delivers_to_live_drops_gone_and_isolates_tenants(table: Any, stub: StubConnections) -> None:
    put_invoice(table, "ten_a", "inv_abc", "usr_customer")
    connect("live=", "usr_merchant", "ten_a", "merchant")
    connect("gone=", "usr_customer", "ten_a", "consumer")
    for conn in ("live=", "gone="):
        assert (
            send(conn, "subscribe", action="subscribe", channel="invoice:inv_abc")["event"] == "invoice:state"
        )
    # Another tenant's connection with a forged subscription to the same channel must still get nothing.
    store = DynamoConnectionStore(table)
    foreign = Viewer("usr_foreign", "ten_b", frozenset({"merchant"}))
    connect("foreign=", "usr_foreign", "ten_b", "merchant")
    store.add_subscription(Subscriber("foreign=", foreign), "invoice:inv_abc", False, 50, _far_future())
    stub.gone.add("gone=")

    data = {"tenant_id": "ten_a", "invoice_id": "inv_abc", "amount_paid": "120.50"}
    result = realtime.lambda_handler(
        bus_event("invoice.paid", ["invoice:inv_abc"], data, "evt_1"), LambdaContext()
    )

    assert result == {"delivered": 1, "gone": 1, "failed": 0}
    assert stub.to("live=") == [
        {
            "event": "invoice.paid",
            "channel": "invoice:inv_abc",
            "data": data,
            "ts": "2026-03-01T12:00:00.000Z",
        }
    ]
    assert stub.to("foreign=") == [] and stub.to("gone=") == []
    assert connection_items(table, "gone=") == []
    assert {item["sk"] for item in connection_items(table, "live=")} == {"META", "SUB#invoice:inv_abc"}

    again = realtime.lambda_handler(
        bus_event("invoice.paid", ["invoice:inv_abc"], data, "evt_1"), LambdaContext()
    )
    assert again["delivered"] == 0 and len(stub.to("live=")) == 1


def test_unreachable_endpoint_is_counted_not_raised(
    table: Any, stub: StubConnections, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_invoice(table, "ten_a", "inv_abc", "usr_customer")
    connect("live=", "usr_merchant", "ten_a", "merchant")
    send("live=", "subscribe", action="subscribe", channel="invoice:inv_abc")
    monkeypatch.setenv("WS_CALLBACK_URL", "http://127.0.0.1:9/prod")
    get_settings.cache_clear()
    bootstrap.reset()
    data = {"tenant_id": "ten_a"}
    result = realtime.lambda_handler(
        bus_event("invoice.paid", ["invoice:inv_abc"], data, "evt_2"), LambdaContext()
    )
    assert result == {"delivered": 0, "gone": 0, "failed": 1}
    assert len(connection_items(table, "live=")) == 2


def test_tick_pushes_countdown_updates(table: Any, stub: StubConnections) -> None:
    table.put_item(
        Item={
            "pk": "WALLET#wal_abc",
            "sk": "META",
            "tenant_id": "ten_a",
            "customer_id": "usr_customer",
            "invoice_id": "inv_abc",
            "status": "funded",
            "wallet_type": "ephemeral",
            "balance": "120.50",
            "currency": "USD",
            "expires_at": "2999-01-01T00:00:00.000Z",
        }
    )
    connect("c1=", "usr_customer", "ten_a", "consumer")
    send("c1=", "subscribe", action="subscribe", channel="countdown:wal_abc")
    scheduled = {
        "version": "0",
        "id": "tick-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2026-03-01T12:01:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/CountdownTick"],
        "detail": {},
    }
    result = realtime.lambda_handler(scheduled, LambdaContext())
    assert result["delivered"] == 1
    (message,) = stub.to("c1=")
    assert message["event"] == "countdown:update" and message["channel"] == "countdown:wal_abc"
    assert message["data"]["walletId"] == "wal_abc" and message["data"]["status"] == "funded"
    assert message["data"]["expires_at"] == "2999-01-01T00:00:00.000Z"


def test_unknown_event_shape_is_an_error_and_a_malformed_event_is_dropped(table: Any) -> None:
    with pytest.raises(ValueError):
        realtime.lambda_handler({"hello": "world"}, LambdaContext())
    malformed = bus_event("invoice.paid", ["invoice:inv_abc"], {}, "evt_3")
    del malformed["detail"]["event_id"]
    assert realtime.lambda_handler(malformed, LambdaContext()) == {"delivered": 0, "malformed": True}


def _far_future() -> datetime:
    return datetime(2999, 1, 1, tzinfo=UTC)
