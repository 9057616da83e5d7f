"""The webhook_delivery function on moto: a bus event fans out to a local receiver, a timer invocation runs
the retry, and the REST routes answer the delivery log and redelivery (typed, tenant-scoped, bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import put_new
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.outbox.records import Resource, domain_event
from tests.integration.conftest import OTHER_MERCHANT, TABLE, FakeLambdaContext, api_event, body_of
from tests.integration.test_webhook_delivery import Resolver, Timers
from tests.support.webhook_sink import WebhookSink

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class World:
    def __init__(self, dynamodb: Any, sink: WebhookSink, webhook_key_id: str) -> None:
        import functions.webhook_delivery.handler as handler
        import functions.webhook_endpoints.handler as endpoints

        self.handler, self.endpoints, self.dynamodb, self.sink = handler, endpoints, dynamodb, sink
        self.clock, self.timers = FixedClock(T0), Timers()
        settings = get_settings().model_copy(
            update={"webhook_allow_loopback": True, "webhook_key_id": webhook_key_id}
        )
        bootstrap.use(
            Adapters(
                settings,
                dynamodb=dynamodb,
                clock=self.clock,
                webhook_timer=self.timers,
                address_resolver=Resolver(),
            )
        )

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.handler.lambda_handler(event, FakeLambdaContext(function_name="webhook_delivery"))

    def rest(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self.invoke(api_event(method, path, **kwargs)))

    def endpoint(self) -> str:
        body = {"url": self.sink.url, "enabled_events": ["invoice.paid"]}
        response = self.endpoints.lambda_handler(
            api_event("POST", "/api/v1/webhook-endpoints", body=body), FakeLambdaContext()
        )
        return str(body_of(response)["data"]["id"])

    def bus_event(self) -> dict[str, Any]:
        event = domain_event(
            "invoice.paid",
            ["invoice:inv_1", "admin"],
            {"tenant_id": "tenant-a", "invoice_id": "inv_1"},
            self.clock.now(),
            resource=Resource("invoice", "inv_1"),
        )
        transact_write(self.dynamodb, [put_new(TABLE, event)])
        detail = {"event": event.name, "channels": list(event.channels), "data": event.data}
        detail |= {"ts": "2030-01-01T00:00:00.000Z", "event_id": event.id}
        return {"source": "monay.wallets", "detail-type": event.name, "detail": detail}


@pytest.fixture
def world(dynamodb: Any, webhook_key_id: str) -> Iterator[World]:
    sink = WebhookSink().start()
    yield World(dynamodb, sink, webhook_key_id)
    sink.stop()


def test_bus_event_then_timer_then_log_and_redelivery(world: World) -> None:
    endpoint_id = world.endpoint()
    world.sink.answers = [500]
    assert world.invoke(world.bus_event()) == {"deliveries": 1}
    (delivery_id,) = world.timers.due
    answered = world.invoke({"webhook_delivery_id": delivery_id})
    assert (answered["state"], answered["attempt"]) == ("succeeded", 2)

    log = world.rest("GET", f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
    assert log["statusCode"] == 200
    (entry,) = body_of(log)["data"]["deliveries"]
    assert (entry["id"], entry["state"], entry["status_code"]) == (delivery_id, "succeeded", 200)

    again = world.rest("POST", f"/api/v1/webhook-deliveries/{delivery_id}/redeliver")
    assert again["statusCode"] == 200
    assert body_of(again)["data"]["original_delivery_id"] == delivery_id
    assert len({r.headers["webhook-id"] for r in world.sink.received}) == 1
    assert len(world.sink.received) == 3

    window = {"since": "2029-12-31T00:00:00Z", "until": "2030-01-01T01:00:00Z"}
    ranged = world.rest("POST", f"/api/v1/webhook-endpoints/{endpoint_id}/redeliver", body=window)
    assert ranged["statusCode"] == 200
    assert len(body_of(ranged)["data"]["deliveries"]) == 1


def test_bad_ranges_and_other_tenants_are_refused(world: World) -> None:
    endpoint_id = world.endpoint()
    path = f"/api/v1/webhook-endpoints/{endpoint_id}/redeliver"
    for body in (
        {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
        {"since": "2029-11-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
        {"since": "2030-01-01T00:00:00", "until": "2030-01-02T00:00:00Z"},
        {"since": "yesterday"},
    ):
        response = world.rest("POST", path, body=body)
        assert (response["statusCode"], body_of(response)["code"]) == (400, "validation_error"), body
    assert (
        world.rest("GET", f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries", principal=OTHER_MERCHANT)[
            "statusCode"
        ]
        == 404
    )
    assert world.rest("POST", "/api/v1/webhook-deliveries/whd_nope/redeliver")["statusCode"] == 404
    assert world.invoke({"unknown": 1}) == {"result": "ignored"}
