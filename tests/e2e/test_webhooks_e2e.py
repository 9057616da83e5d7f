"""Webhooks through the local runtime as `make run` serves them: an invoice change goes outbox -> stream ->
bus -> webhook_delivery -> a receiver started by the test, verified with the official `standardwebhooks`
library; a failed first attempt is retried by a Scheduler timer (sped up by WALLETS_SPEED) with the same
webhook-id; the event is in the tenant's history with its per-resource sequence."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from standardwebhooks import Webhook

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
