"""The realtime service against in-memory ports: authorization, grammar, fan-out, isolation, tick, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import FixedClock
from shared.errors import DependencyUnavailable
from shared.outbox.publisher import BusEventDetail
from shared.realtime.ports import Subscriber, Viewer, WalletSnapshot
from shared.realtime.service import MAX_SUBSCRIPTIONS, RealtimeService
from tests.unit.realtime.fakes import (
    FakeInvoices,
    FakeWallets,
    InMemoryConnectionStore,
    InMemoryHistory,
    RecordingPusher,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WALLET = "wal_abc123"
INVOICE = "inv_abc123"

MERCHANT = Viewer("usr_merchant", "ten_a", frozenset({"merchant"}))
ADMIN = Viewer("usr_admin", "ten_a", frozenset({"admin"}))
CUSTOMER = Viewer("usr_customer", "ten_a", frozenset({"consumer"}))
STRANGER = Viewer("usr_stranger", "ten_a", frozenset({"consumer"}))
OTHER_MERCHANT = Viewer("usr_other", "ten_b", frozenset({"merchant"}))
OTHER_ADMIN = Viewer("usr_other_admin", "ten_b", frozenset({"admin"}))
OPERATOR = Viewer("usr_operator", "platform", frozenset({"operator"}))
LINK = Viewer("lnk_payer", "ten_a", frozenset({"consumer"}), link_invoice_id=INVOICE)
OTHER_LINK = Viewer("lnk_payer2", "ten_a", frozenset({"consumer"}), link_invoice_id="inv_other")


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.store = InMemoryConnectionStore()
        self.pusher = RecordingPusher()
        self.wallets = FakeWallets()
        self.invoices = FakeInvoices()
        self.history = InMemoryHistory()
        self.service = RealtimeService(
            self.store, self.pusher, self.wallets, self.invoices, self.clock, self.history
        )
        self.invoices.add("ten_a", INVOICE, customer_id="usr_customer")
        self.wallets.wallets[WALLET] = WalletSnapshot(
            wallet_id=WALLET,
            tenant_id="ten_a",
            customer_id="usr_customer",
            invoice_id=INVOICE,
            status="active",
            wallet_type="ephemeral",
            balance="0.00",
            currency="USD",
            expires_at=NOW + timedelta(minutes=30),
        )

    def connect(self, connection_id: str, viewer: Viewer) -> str:
        self.service.connect(connection_id, viewer)
        return connection_id

    def send(self, connection_id: str, **message: object) -> dict[str, object]:
        reply = self.service.handle_message(connection_id, json.dumps(message))
        assert set(reply) == {"event", "channel", "data", "ts"}
        return reply

    def subscribe(self, connection_id: str, channel: str) -> dict[str, object]:
        return self.send(connection_id, action="subscribe", channel=channel)


@pytest.fixture
def world() -> World:
    return World()


def error_code(reply: dict[str, object]) -> str | None:
    data = reply["data"]
    assert isinstance(data, dict)
    return data.get("code") if reply["event"] == "error" else None


@pytest.mark.parametrize(
    ("viewer", "channel", "expected_event"),
    [
        (MERCHANT, f"invoice:{INVOICE}", "invoice:state"),
        (ADMIN, f"invoice:{INVOICE}", "invoice:state"),
        (CUSTOMER, f"invoice:{INVOICE}", "invoice:state"),
        (LINK, f"invoice:{INVOICE}", "invoice:state"),
        (STRANGER, f"invoice:{INVOICE}", "error"),
        (OTHER_MERCHANT, f"invoice:{INVOICE}", "error"),
        (OTHER_LINK, f"invoice:{INVOICE}", "error"),
        (MERCHANT, f"wallet:{WALLET}", "wallet:state"),
        (CUSTOMER, f"wallet:{WALLET}", "wallet:state"),
        (LINK, f"countdown:{WALLET}", "countdown:update"),
        (STRANGER, f"wallet:{WALLET}", "error"),
        (OTHER_MERCHANT, f"countdown:{WALLET}", "error"),
        (ADMIN, "admin", "subscribed"),
        (MERCHANT, "admin", "error"),
        (OTHER_ADMIN, "admin", "subscribed"),
        (OPERATOR, "platform", "subscribed"),
        (ADMIN, "platform", "error"),
        (OTHER_ADMIN, "platform", "error"),
        (MERCHANT, "platform", "error"),
        (LINK, "platform", "error"),
        (OPERATOR, "admin", "error"),
    ],
)
def test_subscribe_authorization_matrix(
    world: World, viewer: Viewer, channel: str, expected_event: str
) -> None:
    conn = world.connect("c1", viewer)
    reply = world.subscribe(conn, channel)
    assert reply["event"] == expected_event
    assert reply["channel"] == channel
    held = world.store.subscriptions[conn]
    assert (channel in held) is (expected_event != "error")


def test_refusals_do_not_leak_existence(world: World) -> None:
    stranger = world.connect("c1", STRANGER)
    merchant = world.connect("c2", MERCHANT)
    assert error_code(world.subscribe(stranger, f"invoice:{INVOICE}")) == "not_found"
    assert error_code(world.subscribe(stranger, "invoice:inv_missing")) == "not_found"
    assert error_code(world.subscribe(merchant, "admin")) == "forbidden"


def test_a_draft_invoice_is_not_found_to_its_customer_and_link_but_followed_by_its_tenant(
    world: World,
) -> None:
    world.invoices.add("ten_a", INVOICE, customer_id="usr_customer", status="draft")
    for name, viewer in (("customer", CUSTOMER), ("link", LINK)):
        conn = world.connect(name, viewer)
        assert error_code(world.subscribe(conn, f"invoice:{INVOICE}")) == "not_found"
        assert world.store.subscriptions[conn] == {}
    for name, viewer in (("merchant", MERCHANT), ("admin", ADMIN)):
        conn = world.connect(name, viewer)
        assert world.subscribe(conn, f"invoice:{INVOICE}")["event"] == "invoice:state"


def test_wallet_channel_for_a_missing_wallet_is_not_found(world: World) -> None:
    conn = world.connect("c1", MERCHANT)
    reply = world.subscribe(conn, "wallet:wal_nothere")
    assert reply == {
        "event": "error",
        "channel": "wallet:wal_nothere",
        "data": {"code": "not_found", "message": "wallet not found"},
        "ts": "2026-03-01T12:00:00.000Z",
    }


def test_countdown_snapshot_carries_the_contract_fields(world: World) -> None:
    conn = world.connect("c1", CUSTOMER)
    reply = world.subscribe(conn, f"countdown:{WALLET}")
    assert reply["data"] == {
        "walletId": WALLET,
        "remaining_seconds": 1800,
        "expires_at": "2026-03-01T12:30:00.000Z",
        "server_time": "2026-03-01T12:00:00.000Z",
        "status": "active",
    }


def test_wallet_state_snapshot(world: World) -> None:
    conn = world.connect("c1", MERCHANT)
    data = world.subscribe(conn, f"wallet:{WALLET}")["data"]
    assert isinstance(data, dict)
    assert data["wallet_id"] == WALLET and data["balance"] == "0.00" and data["status"] == "active"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"action": "dance"}),
        json.dumps({"action": "subscribe"}),
        json.dumps({"action": "subscribe", "channel": "wallet:WAL_UPPER"}),
        json.dumps({"action": "subscribe", "channel": "wallet:inv_abc"}),
        json.dumps({"action": "subscribe", "channel": "invoice:inv_"}),
        json.dumps({"action": "subscribe", "channel": "admin:extra"}),
        json.dumps({"action": "subscribe", "channel": "wallet:wal_" + "a" * 65}),
        json.dumps({"action": "subscribe", "channel": 7}),
        json.dumps({"action": "unsubscribe", "channel": "countdown:wal_ab\n"}),
        json.dumps({"action": "ping", "pad": "x" * 5000}),
    ],
)
def test_malformed_messages_are_validation_errors(world: World, body: str) -> None:
    conn = world.connect("c1", ADMIN)
    reply = world.service.handle_message(conn, body)
    assert reply["event"] == "error"
    assert reply["channel"] is None
    assert reply["data"]["code"] == "validation_error"
    assert world.store.subscriptions[conn] == {}


def test_ping_pongs(world: World) -> None:
    conn = world.connect("c1", CUSTOMER)
    assert world.send(conn, action="ping") == {
        "event": "pong",
        "channel": None,
        "data": {},
        "ts": "2026-03-01T12:00:00.000Z",
    }


def test_subscription_limit(world: World) -> None:
    conn = world.connect("c1", MERCHANT)
    for n in range(MAX_SUBSCRIPTIONS - 1):
        world.invoices.add("ten_a", f"inv_n{n}", customer_id="usr_x")
        assert world.subscribe(conn, f"invoice:inv_n{n}")["event"] == "invoice:state"
    assert world.subscribe(conn, f"invoice:{INVOICE}")["event"] == "invoice:state"
    assert world.subscribe(conn, f"invoice:{INVOICE}")["event"] == "invoice:state"  # again: no new slot
    reply = world.subscribe(conn, f"wallet:{WALLET}")
    assert error_code(reply) == "limit_exceeded"
    assert len(world.store.subscriptions[conn]) == MAX_SUBSCRIPTIONS
    world.send(conn, action="unsubscribe", channel=f"invoice:{INVOICE}")
    assert world.subscribe(conn, f"wallet:{WALLET}")["event"] == "wallet:state"


def test_subscribe_on_an_unknown_connection_is_refused(world: World) -> None:
    assert error_code(world.subscribe("ghost", f"invoice:{INVOICE}")) == "unauthorized"


def test_unsubscribe_and_disconnect(world: World) -> None:
    conn = world.connect("c1", CUSTOMER)
    world.subscribe(conn, f"invoice:{INVOICE}")
    world.subscribe(conn, f"countdown:{WALLET}")
    reply = world.send(conn, action="unsubscribe", channel=f"invoice:{INVOICE}")
    assert reply["event"] == "unsubscribed" and reply["data"] == {"removed": True}
    assert list(world.store.subscriptions[conn]) == [f"countdown:{WALLET}"]
    assert world.send(conn, action="unsubscribe", channel=f"invoice:{INVOICE}")["data"] == {"removed": False}
    world.service.disconnect(conn)
    assert conn not in world.store.connections and conn not in world.store.subscriptions
    assert list(world.store.countdown_channels()) == []


def detail(
    event: str, channels: list[str], data: dict[str, object], event_id: str = "evt_1"
) -> BusEventDetail:
    return BusEventDetail(
        event=event, channels=tuple(channels), data=data, ts="2026-03-01T12:00:01.000Z", event_id=event_id
    )


def test_fan_out_removes_gone_connections_and_reaches_live_ones(world: World) -> None:
    live = world.connect("live", MERCHANT)
    gone = world.connect("gone", CUSTOMER)
    flaky = world.connect("flaky", ADMIN)
    for conn in (live, gone, flaky):
        world.subscribe(conn, f"wallet:{WALLET}")
    world.subscribe(gone, f"invoice:{INVOICE}")
    world.pusher.gone.add(gone)
    world.pusher.failing.add(flaky)

    report = world.service.fan_out(
        detail("wallet:funded", [f"wallet:{WALLET}", f"invoice:{INVOICE}"], {"tenant_id": "ten_a", "x": "1"})
    )

    assert world.pusher.to(live) == [
        {
            "event": "wallet:funded",
            "channel": f"wallet:{WALLET}",
            "data": {"tenant_id": "ten_a", "x": "1"},
            "ts": "2026-03-01T12:00:01.000Z",
        }
    ]
    assert (report.delivered, report.gone, report.failed) == (1, 1, 1)
    assert gone not in world.store.connections and gone not in world.store.subscriptions
    assert flaky in world.store.connections


def test_fan_out_is_tenant_isolated(world: World) -> None:
    # Subscriptions are forged straight into the store: isolation must hold even if one slipped through.
    mine = world.connect("mine", MERCHANT)
    theirs = world.connect("theirs", OTHER_MERCHANT)
    mine_admin = world.connect("mine_admin", ADMIN)
    their_admin = world.connect("their_admin", OTHER_ADMIN)
    for conn, viewer in ((mine, MERCHANT), (theirs, OTHER_MERCHANT)):
        world.store.add_subscription(Subscriber(conn, viewer), f"wallet:{WALLET}", False, 50, NOW)
    for conn, viewer in ((mine_admin, ADMIN), (their_admin, OTHER_ADMIN)):
        world.store.add_subscription(Subscriber(conn, viewer), "admin", False, 50, NOW)

    report = world.service.fan_out(
        detail("payment:complete", [f"wallet:{WALLET}", "admin"], {"tenant_id": "ten_a"})
    )

    assert [m["channel"] for m in world.pusher.to(mine)] == [f"wallet:{WALLET}"]
    assert [m["channel"] for m in world.pusher.to(mine_admin)] == ["admin"]
    assert world.pusher.to(theirs) == [] and world.pusher.to(their_admin) == []
    assert report.withheld == 2


def test_event_without_tenant_reaches_only_admin_channel(world: World) -> None:
    admin = world.connect("admin", ADMIN)
    merchant = world.connect("merchant", MERCHANT)
    world.subscribe(admin, "admin")
    world.subscribe(merchant, f"wallet:{WALLET}")
    world.service.fan_out(detail("provider:switched", ["admin", f"wallet:{WALLET}"], {"primary": "circle"}))
    assert [m["event"] for m in world.pusher.to(admin)] == ["provider:switched"]
    assert world.pusher.to(merchant) == []


def test_platform_events_reach_operators_only(world: World) -> None:
    operator = world.connect("operator", OPERATOR)
    admin = world.connect("admin", ADMIN)
    world.subscribe(operator, "platform")
    world.subscribe(admin, "admin")
    # Even a subscription forged into the store does not let a tenant's admin hear the platform.
    world.store.add_subscription(Subscriber(admin, ADMIN), "platform", False, 50, NOW)
    report = world.service.fan_out(detail("reserve:discrepancy", ["platform"], {"gap": "0.03"}))
    assert [m["event"] for m in world.pusher.to(operator)] == ["reserve:discrepancy"]
    assert world.pusher.to(admin) == [] and report.withheld == 1
    world.service.fan_out(detail("provider:switched", ["admin", "platform"], {"primary": "circle"}, "evt_2"))
    assert [m["channel"] for m in world.pusher.to(operator)] == ["platform", "platform"]
    assert [m["channel"] for m in world.pusher.to(admin)] == ["admin"]


def test_a_destroyed_wallets_countdown_is_zero(world: World) -> None:
    world.wallets.wallets[WALLET] = replace(world.wallets.wallets[WALLET], status="destroyed")
    conn = world.connect("c1", CUSTOMER)
    reply = world.subscribe(conn, f"countdown:{WALLET}")
    data = reply["data"]
    assert isinstance(data, dict)
    assert (data["remaining_seconds"], data["status"]) == (0, "destroyed")


def test_duplicate_delivery_is_pushed_once(world: World) -> None:
    conn = world.connect("c1", MERCHANT)
    world.subscribe(conn, f"wallet:{WALLET}")
    first = world.service.fan_out(detail("wallet:funded", [f"wallet:{WALLET}"], {"tenant_id": "ten_a"}))
    again = world.service.fan_out(detail("wallet:funded", [f"wallet:{WALLET}"], {"tenant_id": "ten_a"}))
    assert (first.delivered, again.delivered, again.duplicate) == (1, 0, True)
    assert len(world.pusher.to(conn)) == 1


def test_fan_out_skips_unknown_channels(world: World) -> None:
    conn = world.connect("c1", MERCHANT)
    world.subscribe(conn, f"wallet:{WALLET}")
    report = world.service.fan_out(detail("x", ["bogus", f"wallet:{WALLET}"], {"tenant_id": "ten_a"}))
    assert report.delivered == 1


def test_tick_pushes_countdowns_and_skips_missing_wallets(world: World) -> None:
    customer = world.connect("customer", CUSTOMER)
    merchant = world.connect("merchant", MERCHANT)
    world.subscribe(customer, f"countdown:{WALLET}")
    world.subscribe(merchant, f"countdown:{WALLET}")
    world.subscribe(merchant, f"wallet:{WALLET}")
    orphan = "wal_orphan1"
    world.wallets.wallets[orphan] = replace(world.wallets.wallets[WALLET], wallet_id=orphan)
    world.subscribe(merchant, f"countdown:{orphan}")
    del world.wallets.wallets[orphan]
    world.pusher.sent.clear()
    world.clock.advance(minutes=1)

    report = world.service.tick()

    assert report.delivered == 2
    for conn in (customer, merchant):
        (message,) = world.pusher.events_to(conn)
        assert message["event"] == "countdown:update" and message["channel"] == f"countdown:{WALLET}"
        assert message["data"]["remaining_seconds"] == 1740
        assert message["data"]["server_time"] == "2026-03-01T12:01:00.000Z"


def test_tick_stops_at_an_ended_countdown_and_shows_expiry_before_any_trigger(world: World) -> None:
    merchant = world.connect("merchant", MERCHANT)
    world.subscribe(merchant, f"countdown:{WALLET}")
    world.pusher.sent.clear()
    world.clock.advance(hours=1)
    world.service.tick()
    (message,) = world.pusher.events_to(merchant)
    assert (message["data"]["remaining_seconds"], message["data"]["status"]) == (0, "expired")
    world.wallets.wallets[WALLET] = replace(world.wallets.wallets[WALLET], status="destroyed")
    world.pusher.sent.clear()
    assert world.service.tick().delivered == 0


def test_tick_never_crosses_tenants(world: World) -> None:
    theirs = world.connect("theirs", OTHER_MERCHANT)
    world.store.add_subscription(Subscriber(theirs, OTHER_MERCHANT), f"countdown:{WALLET}", True, 50, NOW)
    report = world.service.tick()
    assert world.pusher.events_to(theirs) == [] and report.withheld == 1


class BrokenSubscribersStore(InMemoryConnectionStore):
    def subscribers(self, channel: str) -> Iterator[Subscriber]:
        raise DependencyUnavailable("DynamoDB query subscribers failed")


def test_failed_fan_out_releases_its_claim_so_the_retry_pushes(world: World) -> None:
    broken = BrokenSubscribersStore()
    service = RealtimeService(broken, world.pusher, world.wallets, world.invoices, world.clock, world.history)
    event = detail("wallet:funded", [f"wallet:{WALLET}"], {"tenant_id": "ten_a"}, event_id="evt_retry")
    with pytest.raises(DependencyUnavailable):
        service.fan_out(event)
    assert "evt_retry" not in broken.claimed


class StickyStore(InMemoryConnectionStore):
    def delete_connection(self, connection_id: str) -> int:
        raise DependencyUnavailable("DynamoDB delete connection failed")


def test_gone_connection_that_cannot_be_deleted_does_not_stop_the_fan_out(world: World) -> None:
    store = StickyStore()
    service = RealtimeService(store, world.pusher, world.wallets, world.invoices, world.clock, world.history)
    for conn, viewer in (("gone", CUSTOMER), ("live", MERCHANT)):
        service.connect(conn, viewer)
        service.handle_message(conn, json.dumps({"action": "subscribe", "channel": f"wallet:{WALLET}"}))
    world.pusher.gone.add("gone")
    world.pusher.sent.clear()
    report = service.fan_out(detail("wallet:funded", [f"wallet:{WALLET}"], {"tenant_id": "ten_a"}))
    assert (report.delivered, report.gone) == (1, 1)
    assert [m["event"] for m in world.pusher.to("live")] == ["wallet:funded"]


def test_consumer_channel_is_the_callers_own(world: World) -> None:
    mine = world.connect("mine", CUSTOMER)
    stranger = world.connect("stranger", STRANGER)
    twin = world.connect("twin", Viewer("usr_customer", "ten_b", frozenset({"consumer"})))
    merchant = world.connect("merchant", MERCHANT)
    for conn in (mine, stranger, twin):
        reply = world.subscribe(conn, "consumer")
        assert (reply["event"], reply["channel"]) == ("subscribed", "consumer")
    assert error_code(world.subscribe(merchant, "consumer")) == "forbidden"
    assert error_code(world.subscribe(stranger, "consumer:usr_customer")) == "forbidden"
    assert error_code(world.subscribe(world.connect("link", LINK), "consumer")) == "forbidden"

    world.service.fan_out(
        detail("transfer:received", ["consumer:usr_customer"], {"tenant_id": "ten_a", "amount": "5.00"})
    )
    assert [m["channel"] for m in world.pusher.to(mine)] == ["consumer"]
    assert world.pusher.to(stranger) == [] and world.pusher.to(twin) == []  # other person, other tenant
    assert world.send(mine, action="unsubscribe", channel="consumer")["data"] == {"removed": True}
