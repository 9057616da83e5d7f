"""Webhook delivery on moto with real HTTP to a local receiver: Standard Webhooks signatures checked by the
official `standardwebhooks` verifier (also across a rotation), the retry schedule on durable timers,
Retry-After, 410 and five days of failures disabling the endpoint, a crash between the send and the record,
DNS rebinding at send time, fan-out filters, and redelivery."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.adapters.dynamodb_deliveries import DynamoDBDeliveries
from shared.adapters.dynamodb_event_history import DynamoDBEventHistory
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import put_new
from shared.adapters.dynamodb_webhook_endpoints import DynamoDBWebhookEndpoints
from shared.adapters.kms_webhook_secrets import KmsSecretSealer
from shared.adapters.webhook_sender import HttpxWebhookSender
from shared.auth import Principal
from shared.clock import FixedClock
from shared.errors import ValidationFailed
from shared.events import delivery_service
from shared.events.deliveries import DeliveryState
from shared.events.delivery_service import WebhookDeliveryService
from shared.events.endpoint_service import WebhookEndpointService
from shared.events.records import StoredEvent
from shared.outbox.records import Resource, domain_event
from tests.integration.conftest import TABLE
from tests.support.webhook_sink import WebhookSink

T0 = datetime(2030, 1, 1, tzinfo=UTC)
MERCHANT = Principal(sub="merchant-1", tenant_id="tenant-a", roles=frozenset({"merchant"}))


class Resolver:
    def __init__(self) -> None:
        self.hosts: dict[str, list[str]] = {"hooks.local": ["127.0.0.1"]}

    def resolve(self, host: str) -> list[str]:
        return [host] if host[0].isdigit() else list(self.hosts.get(host, []))


class Timers:
    """The durable timers as the service set them: delivery id -> when (absent once cancelled)."""

    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    def schedule(self, delivery_id: str, at: datetime) -> None:
        self.due[delivery_id] = at

    def cancel(self, delivery_id: str) -> None:
        self.due.pop(delivery_id, None)


class OneCallAtATime:
    """The DynamoDB client with each call atomic, as the service is (moto in-process is not thread-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


class World:
    def __init__(self, dynamodb: Any, sink: WebhookSink, webhook_key_id: str) -> None:
        # One event's attempts run side by side: their DynamoDB calls go through one at a time.
        dynamodb = OneCallAtATime(dynamodb)
        self.dynamodb, self.sink = dynamodb, sink
        self.clock = FixedClock(T0)
        self.timers, self.resolver = Timers(), Resolver()
        self.history = DynamoDBEventHistory(dynamodb, TABLE)
        store = DynamoDBWebhookEndpoints(dynamodb, TABLE)
        self.kms = boto3.client("kms", region_name="us-east-1")
        self.sealer = KmsSecretSealer(self.kms, webhook_key_id)
        self.endpoints = WebhookEndpointService(
            store, self.resolver, self.clock, self.sealer, allow_loopback=True
        )
        self.sender = HttpxWebhookSender()
        self.service = WebhookDeliveryService(
            store,
            DynamoDBDeliveries(dynamodb, TABLE),
            self.history,
            self.sender,
            self.timers,
            self.resolver,
            self.clock,
            # A sealer of its own (nothing cached from the endpoints service): signing opens through KMS.
            KmsSecretSealer(self.kms, webhook_key_id),
            allow_loopback=True,
        )

    def endpoint(
        self, events: list[str] | None = None, url: str | None = None, **kwargs: Any
    ) -> tuple[str, str]:
        made, secret = self.endpoints.create(
            kwargs.pop("principal", MERCHANT),
            url or self.sink.url,
            events or ["*"],
            kwargs.get("resource_id"),
            None,
        )
        return made.id, secret

    def event(
        self, name: str = "invoice.paid", invoice: str = "inv_1", tenant: str = "tenant-a"
    ) -> StoredEvent:
        event = domain_event(
            name,
            [f"invoice:{invoice}"],
            {"tenant_id": tenant, "invoice_id": invoice, "amount": "10.00"},
            self.clock.now(),
            resource=Resource("invoice", invoice),
        )
        transact_write(self.dynamodb, [put_new(TABLE, event)])
        stored = self.history.get(tenant, event.id)
        assert stored is not None
        return stored

    def fire(self, delivery_id: str) -> Any:
        """The timer fires: virtual time moves to it and the delivery function runs the attempt."""
        at = self.timers.due[delivery_id]
        self.clock.advance(seconds=max((at - self.clock.now()).total_seconds(), 0))
        return self.service.attempt(delivery_id)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    server = WebhookSink().start()
    yield server
    server.stop()


@pytest.fixture
def world(dynamodb: Any, sink: WebhookSink, webhook_key_id: str) -> World:
    return World(dynamodb, sink, webhook_key_id)


def verified(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def test_a_delivery_verifies_with_the_official_library(world: World) -> None:
    _, secret = world.endpoint()
    event = world.event()
    (delivery,) = world.service.fan_out(event)
    assert delivery.state is DeliveryState.SUCCEEDED and delivery.status_code == 200
    (received,) = world.sink.received
    assert received.headers["webhook-id"] == event.id
    assert verified(secret, received) == {
        "type": "invoice.paid",
        "timestamp": event.created_at,
        "data": event.data,
    }
    assert delivery.id not in world.timers.due
    assert world.service.fan_out(event) == []  # the same event again starts nothing twice
    assert len(world.sink.received) == 1


def test_during_a_rotation_both_secrets_verify_then_only_the_new(world: World) -> None:
    endpoint_id, old = world.endpoint()
    _, new = world.endpoints.rotate_secret(MERCHANT, endpoint_id)
    world.service.fan_out(world.event())
    received = world.sink.received[-1]
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    assert verified(old, received)["type"] == verified(new, received)["type"] == "invoice.paid"
    world.clock.advance(hours=24, seconds=1)
    world.service.fan_out(world.event())
    late = world.sink.received[-1]
    assert verified(new, late)["type"] == "invoice.paid"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(late.body, late.headers)


def test_failures_retry_on_the_schedule_with_the_same_webhook_id_until_success(world: World) -> None:
    world.sink.answers = [500, 503, (500, {})]
    _, secret = world.endpoint()
    event = world.event()
    (first,) = world.service.fan_out(event)
    assert (first.state, first.attempt, first.status_code) == (DeliveryState.PENDING, 1, 500)
    waits = []
    for _ in range(3):
        waits.append((world.timers.due[first.id] - world.clock.now()).total_seconds())
        last = world.fire(first.id)
    assert 4.5 <= waits[0] <= 5.5 and 270 <= waits[1] <= 330 and 1620 <= waits[2] <= 1980
    assert (last.state, last.attempt) == (DeliveryState.SUCCEEDED, 4)
    assert {r.headers["webhook-id"] for r in world.sink.received} == {event.id}
    assert all(verified(secret, r)["type"] == "invoice.paid" for r in world.sink.received)
    assert first.id not in world.timers.due


def test_retry_after_is_honoured_on_429(world: World) -> None:
    world.sink.answers = [(429, {"Retry-After": "600"})]
    world.endpoint()
    (delivery,) = world.service.fan_out(world.event())
    assert delivery.status_code == 429
    assert (world.timers.due[delivery.id] - world.clock.now()) >= timedelta(seconds=600)


def test_410_disables_the_endpoint_with_its_event(world: World) -> None:
    world.sink.default = 410
    endpoint_id, _ = world.endpoint()
    (delivery,) = world.service.fan_out(world.event())
    assert delivery.state is DeliveryState.ABANDONED
    endpoint = world.endpoints.get(MERCHANT, endpoint_id)
    assert endpoint.enabled is False and "410" in (endpoint.disabled_reason or "")
    names = [e.type for e in world.history.after("tenant-a", endpoint_id, 0, 10)]
    assert names == ["webhook_endpoint.disabled"]
    world.service.fan_out(world.event())
    assert len(world.sink.received) == 1  # a disabled endpoint gets nothing more


def test_five_days_of_failures_disable_and_the_schedule_ends(world: World) -> None:
    world.sink.default = 500
    endpoint_id, _ = world.endpoint()
    (delivery,) = world.service.fan_out(world.event())
    while delivery.state is DeliveryState.PENDING:
        delivery = world.fire(delivery.id)
    assert delivery.state is DeliveryState.FAILED
    assert delivery.attempt <= 10
    assert world.clock.now() - T0 >= timedelta(days=2)
    endpoint = world.endpoints.get(MERCHANT, endpoint_id)
    if endpoint.enabled:  # the schedule (about 3 days) ended first: the run keeps counting on later events
        world.clock.advance(days=3)
        world.service.fan_out(world.event())
        endpoint = world.endpoints.get(MERCHANT, endpoint_id)
    assert endpoint.enabled is False and endpoint.disabled_reason == "deliveries failed for 5 days"
    assert [e.type for e in world.history.after("tenant-a", endpoint_id, 0, 10)] == [
        "webhook_endpoint.disabled"
    ]


def test_a_hanging_receiver_times_out_and_is_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_service, "SEND_TIMEOUT", timedelta(seconds=0.3))
    world.sink.answers = [("hang", 1.0)]
    world.endpoint()
    (delivery,) = world.service.fan_out(world.event())
    assert delivery.state is DeliveryState.PENDING and delivery.status_code is None
    assert delivery.error == "timed out"
    assert world.fire(delivery.id).state is DeliveryState.SUCCEEDED


def test_a_crash_between_send_and_record_is_delivered_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.endpoint()
    event = world.event()
    real_send = world.sender.send

    def send_then_die(*args: Any, **kwargs: Any) -> Any:
        real_send(*args, **kwargs)
        raise RuntimeError("the function died after the POST")

    monkeypatch.setattr(world.sender, "send", send_then_die)
    with pytest.raises(RuntimeError):
        world.service.fan_out(event)
    monkeypatch.undo()
    (delivery_id,) = world.timers.due  # the in-flight guard's timer is still set
    assert world.fire(delivery_id).state is DeliveryState.SUCCEEDED
    assert [r.headers["webhook-id"] for r in world.sink.received] == [event.id, event.id]


def test_dns_rebinding_is_refused_at_send_time(world: World) -> None:
    port = world.sink.url.split(":")[2].split("/")[0]
    world.endpoint(url=f"http://hooks.local:{port}/hooks")
    world.resolver.hosts["hooks.local"] = ["10.1.2.3"]
    (delivery,) = world.service.fan_out(world.event())
    assert delivery.state is DeliveryState.PENDING and (delivery.error or "").startswith("url refused")
    assert world.sink.received == []


def test_fan_out_follows_names_scope_and_tenant(world: World) -> None:
    paid, _ = world.endpoint(["invoice.paid"])
    everything, _ = world.endpoint(["*"])
    world.endpoint(["wallet:funded"])
    scoped, _ = world.endpoint(["*"], resource_id="inv_" + "b" * 24)
    other = Principal(sub="m-9", tenant_id="tenant-b", roles=frozenset({"merchant"}))
    world.endpoint(["*"], principal=other)
    started = world.service.fan_out(world.event("invoice.paid", "inv_" + "a" * 24))
    assert sorted(d.endpoint_id for d in started) == sorted([paid, everything])
    started = world.service.fan_out(world.event("invoice.sent", "inv_" + "b" * 24))
    assert sorted(d.endpoint_id for d in started) == sorted([everything, scoped])


def test_redelivery_names_its_original_and_ranges_are_bounded(world: World) -> None:
    endpoint_id, _ = world.endpoint()
    event = world.event()
    (original,) = world.service.fan_out(event)
    again = world.service.redeliver(MERCHANT, original.id)
    assert again.original_delivery_id == original.id and again.id != original.id
    assert again.state is DeliveryState.SUCCEEDED
    assert [r.headers["webhook-id"] for r in world.sink.received] == [event.id, event.id]
    ranged = world.service.redeliver_range(
        MERCHANT, endpoint_id, T0 - timedelta(days=1), T0 + timedelta(hours=1)
    )
    assert [d.event_id for d in ranged] == [event.id]
    assert world.timers.due[ranged[0].id] == world.clock.now()
    for since, until in ((T0, T0 - timedelta(seconds=1)), (T0 - timedelta(days=31), T0)):
        with pytest.raises(ValidationFailed):
            world.service.redeliver_range(MERCHANT, endpoint_id, since, until)
    log = world.service.deliveries(MERCHANT, endpoint_id, 10, None)
    assert {d.id for d in log.items} == {original.id, again.id, ranged[0].id}
    assert json.loads(json.dumps(log.items[0].to_api()))["state"] in {"succeeded", "pending"}


def test_a_hanging_endpoint_delays_neither_its_tenants_other_endpoints_nor_another_tenant(
    dynamodb: Any, webhook_key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery_service, "SEND_TIMEOUT", timedelta(seconds=2))
    hanging, fast, other = (
        WebhookSink(default=("hang", 4.0)).start(),
        WebhookSink().start(),
        WebhookSink().start(),
    )
    try:
        world = World(dynamodb, fast, webhook_key_id)
        world.endpoint(url=hanging.url)  # tenant A's first endpoint: tried first when one at a time
        world.clock.advance(seconds=1)
        world.endpoint(url=fast.url)
        tenant_b = Principal(sub="m-9", tenant_id="tenant-b", roles=frozenset({"merchant"}))
        world.endpoint(url=other.url, principal=tenant_b)
        events = [world.event(invoice="inv_a"), world.event(invoice="inv_b", tenant="tenant-b")]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as invocations:  # two bus events, two function invocations
            outcomes = list(invocations.map(world.service.fan_out, events))
        took = {name: sink.received[0].at - started for name, sink in (("fast", fast), ("other", other))}
        # Both arrive long before the hanging endpoint's attempt gives up (2 s): nothing waited on it.
        assert took["fast"] < 1.5 and took["other"] < 1.5, took
        states = sorted((d.endpoint_id, d.state.value, d.error) for d in outcomes[0])
        assert [s[1:] for s in states if s[2]] == [("pending", "timed out")]
        assert {d.state for d in outcomes[1]} == {DeliveryState.SUCCEEDED}
    finally:
        for sink in (hanging, fast, other):
            sink.stop()
