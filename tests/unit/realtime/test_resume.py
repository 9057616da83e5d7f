"""WebSocket resume and heartbeats against in-memory ports: the replay, the seam with the live fan-out (an
event committed at each step of a subscribe arrives exactly once), refusals, and the heartbeat buckets."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.events.records import StoredEvent
from shared.outbox.publisher import BusEventDetail
from shared.realtime.ports import HEARTBEAT_BUCKETS, SubscribeOutcome, Subscriber, heartbeat_bucket
from shared.realtime.resume import MAX_REPLAY
from tests.unit.realtime.fakes import InMemoryConnectionStore
from tests.unit.realtime.test_realtime_service import (
    CUSTOMER,
    INVOICE,
    LINK,
    MERCHANT,
    NOW,
    OTHER_LINK,
    WALLET,
    World,
    error_code,
)

WALLET_CHANNELS = [f"wallet:{WALLET}", f"invoice:{INVOICE}"]


class HookedStore(InMemoryConnectionStore):
    """Runs `before`/`after` around storing a subscription: what other writers do at that instant."""

    before: Callable[[], None] = staticmethod(lambda: None)
    after: Callable[[], None] = staticmethod(lambda: None)

    def add_subscription(
        self, subscriber: Subscriber, channel: str, countdown: bool, limit: int, expires_at: Any
    ) -> SubscribeOutcome:
        self.before()
        outcome = super().add_subscription(subscriber, channel, countdown, limit, expires_at)
        self.after()
        return outcome


@pytest.fixture
def world() -> World:
    w = World()
    w.store = HookedStore()
    w.service = type(w.service)(w.store, w.pusher, w.wallets, w.invoices, w.clock, w.history)
    return w


def wallet_event(world: World, name: str, channels: list[str] | None = None) -> StoredEvent:
    world.clock.advance(seconds=1)
    return world.history.record(
        "ten_a",
        ("wallet", WALLET),
        name,
        channels or WALLET_CHANNELS,
        world.clock.now(),
        {"wallet_id": WALLET},
    )


def live(world: World, event: StoredEvent) -> None:
    """The event's live fan-out, as the bus delivers it to the realtime function."""
    world.service.fan_out(
        BusEventDetail(
            event=event.type,
            channels=event.channels,
            data=event.data,
            ts=event.created_at,
            event_id=event.id,
            resource={"type": event.resource_type, "id": event.resource_id},
            sequence=event.sequence,
        )
    )


def resume(world: World, conn: str, channel: str, after: Any) -> dict[str, Any]:
    body = json.dumps({"action": "subscribe", "channel": channel, "after_sequence": after})
    return world.service.handle_message(conn, body)


def sequences(world: World, conn: str) -> list[int]:
    return [m["sequence"] for m in world.pusher.events_to(conn) if "sequence" in m]


def test_resume_replays_the_missed_events_in_order_then_live_ones_follow(world: World) -> None:
    first = world.connect("first", MERCHANT)
    world.subscribe(first, f"wallet:{WALLET}")
    seen = wallet_event(world, "wallet:created")
    live(world, seen)
    (message,) = world.pusher.events_to(first)
    assert message["sequence"] == 1 and set(message) == {"event", "channel", "data", "ts", "sequence"}
    world.service.disconnect(first)
    missed = [wallet_event(world, name) for name in ("wallet:funded", "payment:received", "payment:complete")]
    for event in missed:
        live(world, event)

    again = world.connect("again", MERCHANT)
    reply = resume(world, again, f"wallet:{WALLET}", 1)

    assert reply["event"] == "wallet:state"
    replayed = world.pusher.events_to(again)
    assert [(m["event"], m["sequence"], m["channel"]) for m in replayed] == [
        ("wallet:funded", 2, f"wallet:{WALLET}"),
        ("payment:received", 3, f"wallet:{WALLET}"),
        ("payment:complete", 4, f"wallet:{WALLET}"),
    ]
    assert replayed[0]["data"] == {"tenant_id": "ten_a", "wallet_id": WALLET}
    assert replayed[0]["ts"] == missed[0].created_at
    live(world, wallet_event(world, "wallet:destroyed"))
    assert sequences(world, again) == [2, 3, 4, 5]


def test_a_countdown_resumes_only_what_was_published_on_it(world: World) -> None:
    wallet_event(world, "wallet:funded")
    wallet_event(world, "wallet:destroyed", [f"wallet:{WALLET}", f"countdown:{WALLET}"])
    conn = world.connect("c", CUSTOMER)
    assert resume(world, conn, f"countdown:{WALLET}", 0)["event"] == "countdown:update"
    assert [(m["event"], m["sequence"]) for m in world.pusher.events_to(conn)] == [("wallet:destroyed", 2)]


def test_events_of_another_resource_on_the_channel_carry_no_sequence(world: World) -> None:
    conn = world.connect("c", MERCHANT)
    world.subscribe(conn, f"wallet:{WALLET}")
    world.clock.advance(seconds=1)
    paid = world.history.record("ten_a", ("invoice", INVOICE), "invoice.paid", WALLET_CHANNELS, NOW)
    live(world, paid)
    (message,) = world.pusher.events_to(conn)
    assert message["event"] == "invoice.paid" and "sequence" not in message


def test_an_event_committed_just_before_the_subscription_is_stored_is_replayed_once(world: World) -> None:
    """Committed after the first read of the counter, fanned out while no subscription existed yet."""
    wallet_event(world, "wallet:created")
    conn = world.connect("c", MERCHANT)
    store = world.store
    assert isinstance(store, HookedStore)
    store.before = lambda: live(world, wallet_event(world, "wallet:funded"))
    resume(world, conn, f"wallet:{WALLET}", 0)
    store.before = lambda: None
    live(world, wallet_event(world, "payment:received"))
    assert sequences(world, conn) == [1, 2, 3]


def test_an_event_committed_just_after_the_subscription_is_stored_is_sent_once(world: World) -> None:
    """Its live fan-out finds the subscription before the replay reaches it: live wins the claim."""
    wallet_event(world, "wallet:created")
    conn = world.connect("c", MERCHANT)
    store = world.store
    assert isinstance(store, HookedStore)
    store.after = lambda: live(world, wallet_event(world, "wallet:funded"))
    resume(world, conn, f"wallet:{WALLET}", 0)
    assert sorted(sequences(world, conn)) == [1, 2]


def test_a_late_live_copy_of_a_replayed_event_is_not_sent_again(world: World) -> None:
    """The stream and bus lag: the live fan-out of an event the replay already sent arrives afterwards."""
    created = wallet_event(world, "wallet:created")
    funded = wallet_event(world, "wallet:funded")
    conn = world.connect("c", MERCHANT)
    store = world.store
    assert isinstance(store, HookedStore)
    late: list[StoredEvent] = []
    store.after = lambda: late.append(wallet_event(world, "payment:received"))
    resume(world, conn, f"wallet:{WALLET}", 0)
    for event in (created, funded, *late):
        live(world, event)
    assert sequences(world, conn) == [1, 2, 3]


def test_after_sequence_is_refused_where_it_cannot_resume_and_nothing_is_stored(world: World) -> None:
    admin = world.connect("a", MERCHANT.__class__("usr_admin", "ten_a", frozenset({"admin"})))
    reply = resume(world, admin, "admin", 0)
    assert error_code(reply) == "validation_error"
    assert world.store.subscriptions[admin] == {}
    conn = world.connect("c", MERCHANT)
    for bad in (-1, "3", True, 1.5, None):
        assert error_code(resume(world, conn, f"wallet:{WALLET}", bad)) == "validation_error", bad
    assert world.store.subscriptions[conn] == {}


def test_a_client_too_far_behind_is_sent_to_the_rest_history(world: World) -> None:
    for _ in range(MAX_REPLAY + 2):
        world.history.record("ten_a", ("wallet", WALLET), "wallet:funded", WALLET_CHANNELS, NOW)
    conn = world.connect("c", MERCHANT)
    reply = resume(world, conn, f"wallet:{WALLET}", 1)
    assert error_code(reply) == "limit_exceeded"
    assert "GET /api/v1/events?resource_id=" in reply["data"]["message"]
    assert world.store.subscriptions[conn] == {} and world.pusher.events_to(conn) == []
    assert resume(world, conn, f"wallet:{WALLET}", 2)["event"] == "wallet:state"
    assert len(world.pusher.events_to(conn)) == MAX_REPLAY


def test_a_payment_link_replays_only_its_own_invoice(world: World) -> None:
    world.history.record("ten_a", ("invoice", INVOICE), "invoice.created", WALLET_CHANNELS, NOW)
    world.history.record("ten_a", ("invoice", "inv_other"), "invoice.created", ["invoice:inv_other"], NOW)
    own = world.connect("own", LINK)
    assert resume(world, own, f"invoice:{INVOICE}", 0)["event"] == "invoice:state"
    assert sequences(world, own) == [1]
    world.invoices.add("ten_a", "inv_other", customer_id="usr_customer")
    other = world.connect("other", LINK)
    assert error_code(resume(world, other, "invoice:inv_other", 0)) == "not_found"
    stranger = world.connect("stranger", OTHER_LINK)
    assert error_code(resume(world, stranger, f"invoice:{INVOICE}", 0)) == "not_found"
    assert world.pusher.events_to(other) == [] and world.pusher.events_to(stranger) == []


def test_import_channels_are_for_the_tenants_merchants_and_resume(world: World) -> None:
    world.history.record("ten_a", ("import", "imp_abc"), "import.completed", ["import:imp_abc", "admin"], NOW)
    world.history.record("ten_b", ("import", "imp_abc"), "import.completed", ["import:imp_abc"], NOW)
    merchant = world.connect("m", MERCHANT)
    assert resume(world, merchant, "import:imp_abc", 0)["event"] == "subscribed"
    assert [(m["event"], m["sequence"]) for m in world.pusher.events_to(merchant)] == [
        ("import.completed", 1)
    ]
    customer = world.connect("c", CUSTOMER)
    assert error_code(world.subscribe(customer, "payout:po_abc")) == "forbidden"


def test_heartbeats_take_turns_by_bucket_and_reach_every_connection_within_the_rotation(world: World) -> None:
    connections = [world.connect(f"conn-{n}", MERCHANT) for n in range(12)]
    assert {heartbeat_bucket(c) for c in connections} == set(range(HEARTBEAT_BUCKETS))
    world.pusher.gone.add(connections[0])
    heard: dict[str, int] = {}
    for minute in range(HEARTBEAT_BUCKETS):
        report = world.service.tick(NOW + timedelta(minutes=minute))
        bucket = int((NOW + timedelta(minutes=minute)).timestamp() // 60) % HEARTBEAT_BUCKETS
        expected = [c for c in connections if heartbeat_bucket(c) == bucket and c != connections[0]]
        assert report.heartbeats == len(expected)
        for conn in expected:
            heard[conn] = heard.get(conn, 0) + 1
    assert set(heard) == set(connections[1:]) and set(heard.values()) == {1}
    message = world.pusher.to(connections[1])[0]
    assert (message["event"], message["channel"], message["data"]) == ("heartbeat", None, {})
    assert set(message) == {"event", "channel", "data", "ts"}
    assert connections[0] not in world.store.connections
