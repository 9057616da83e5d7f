"""Webhooks through the local runtime as `make run` serves them: an invoice change goes outbox -> stream ->
bus -> webhook_delivery -> a receiver started by the test, verified with the official `standardwebhooks`
library; a failed first attempt is retried by a Scheduler timer (sped up by WALLETS_SPEED) with the same
webhook-id; the event is in the tenant's history with its per-resource sequence; a WebSocket subscription
resumed with `after_sequence` gets exactly the events it missed, in order, then live ones."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from websockets.sync.client import ClientConnection, connect

from tests.e2e import conftest
from tests.e2e.conftest import RunningRuntime, wait_for
from tests.e2e.system import auth, create_invoice, project_system, token
from tests.support.webhook_sink import WebhookSink

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    # The runtime synthesizes its template first when sources changed: minutes on a loaded machine.
    conftest.START_TIMEOUT = max(conftest.START_TIMEOUT, 400.0)
    with project_system(tmp_path_factory.mktemp("webhooks"), speed=60) as runtime:
        yield runtime


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink().start()
    yield server
    server.stop()


def test_an_invoice_event_reaches_the_endpoint_signed_and_retried(
    system: RunningRuntime, sink: WebhookSink
) -> None:
    bearer = token(system)
    sink.answers = [500]
    with httpx.Client(base_url=system.rest_url, timeout=30) as http:
        made = http.post(
            "/api/v1/webhook-endpoints",
            json={"url": sink.url, "enabled_events": ["invoice.created"]},
            headers=auth(bearer),
        )
        assert made.status_code == 201, made.text
        secret = made.json()["data"]["secret"]
        invoice = create_invoice(http, bearer).json()["data"]["invoice"]

        wait_for(lambda: len(sink.received) >= 2, timeout=60, interval=0.2)
        first, second = sink.received[:2]
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        payload = Webhook(secret).verify(second.body, second.headers)
        assert payload["type"] == "invoice.created"
        assert payload["data"]["invoice_id"] == invoice["id"]

        events = http.get(
            "/api/v1/events", params={"resource_id": invoice["id"]}, headers=auth(bearer)
        ).json()
        (event,) = events["data"]["events"]
        assert (event["id"], event["sequence"]) == (first.headers["webhook-id"], 1)
        endpoint_id = made.json()["data"]["id"]
        log = http.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=auth(bearer)).json()
        (delivery,) = log["data"]["deliveries"]
        assert (delivery["state"], delivery["attempt"]) == ("succeeded", 2)


def _messages(socket: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """What the socket receives within `seconds` (heartbeats left out)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            break
        if message["event"] != "heartbeat":
            found.append(message)
    return found


def _until(socket: ClientConnection, event: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Messages up to and including the first `event` (heartbeats left out)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not found or found[-1]["event"] != event:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["event"] != "heartbeat":
            found.append(message)
    return found


def test_a_resumed_subscription_gets_exactly_the_missed_events_in_order_then_live_ones(
    system: RunningRuntime,
) -> None:
    bearer = token(system)
    channel_url = f"{system.ws_url}?token={bearer}"
    with httpx.Client(base_url=system.rest_url, timeout=30) as http:
        invoice_id = create_invoice(http, bearer).json()["data"]["invoice"]["id"]
        channel = f"invoice:{invoice_id}"
        with connect(channel_url, open_timeout=30) as first:
            first.send(json.dumps({"action": "subscribe", "channel": channel, "after_sequence": 0}))
            seen = _until(first, "invoice:state")
        assert [(m["event"], m.get("sequence")) for m in seen] == [
            ("invoice.created", 1),
            ("invoice:state", None),
        ]

        # Disconnected: the invoice is sent and voided (sequences 2 and 3).
        for action in ("send", "void"):
            answer = http.post(f"/api/v1/invoices/{invoice_id}/{action}", headers=auth(bearer))
            assert answer.status_code == 200, answer.text

        with connect(channel_url, open_timeout=30) as again:
            again.send(json.dumps({"action": "subscribe", "channel": channel, "after_sequence": 1}))
            resumed = _until(again, "invoice:state")
            assert http.delete(f"/api/v1/invoices/{invoice_id}", headers=auth(bearer)).status_code == 200
            resumed += _until(again, "invoice.deleted")
            # The live copies of 2 and 3 (stream and bus lag behind) never arrive as well.
            resumed += _messages(again, 5.0)
    assert [(m["event"], m.get("sequence")) for m in resumed] == [
        ("invoice.sent", 2),
        ("invoice.voided", 3),
        ("invoice:state", None),
        ("invoice.deleted", 4),
    ]
    assert all(m["channel"] == channel and set(m) >= {"event", "channel", "data", "ts"} for m in resumed)
