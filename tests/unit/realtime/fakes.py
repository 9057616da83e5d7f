"""In-memory fakes of the realtime ports, with the same semantics as the DynamoDB adapters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.events.records import StoredEvent
from shared.outbox.records import iso
from shared.realtime.channels import may_view
from shared.realtime.ports import (
    Connection,
    InvoiceView,
    PushOutcome,
    SubscribeOutcome,
    Subscriber,
    Viewer,
    WalletSnapshot,
    heartbeat_bucket,
)


@dataclass
class InMemoryConnectionStore:
    connections: dict[str, Connection] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Subscriber]] = field(default_factory=dict)
    countdowns: set[tuple[str, str]] = field(default_factory=set)
    claimed: set[str] = field(default_factory=set)
    expiries: dict[str, datetime] = field(default_factory=dict)
    sequence_claims: set[tuple[str, str, int]] = field(default_factory=set)

    def put_connection(self, connection: Connection, expires_at: datetime) -> None:
        self.connections[connection.connection_id] = connection
        self.subscriptions.setdefault(connection.connection_id, {})
        self.expiries[connection.connection_id] = expires_at

    def get_connection(self, connection_id: str) -> Connection | None:
        return self.connections.get(connection_id)

    def delete_connection(self, connection_id: str) -> int:
        removed = len(self.subscriptions.pop(connection_id, {})) + int(
            self.connections.pop(connection_id, None) is not None
        )
        self.countdowns = {(ch, conn) for ch, conn in self.countdowns if conn != connection_id}
        return removed

    def add_subscription(
        self, subscriber: Subscriber, channel: str, countdown: bool, limit: int, expires_at: datetime
    ) -> SubscribeOutcome:
        if subscriber.connection_id not in self.connections:
            return SubscribeOutcome.NO_CONNECTION
        held = self.subscriptions[subscriber.connection_id]
        if channel in held:
            return SubscribeOutcome.ALREADY_SUBSCRIBED
        if len(held) >= limit:
            return SubscribeOutcome.LIMIT_REACHED
        held[channel] = subscriber
        if countdown:
            self.countdowns.add((channel, subscriber.connection_id))
        return SubscribeOutcome.ADDED

    def resume_subscription(self, connection_id: str, channel: str, live_after: int) -> bool:
        held = self.subscriptions.get(connection_id, {})
        if channel not in held:
            return False
        held[channel] = replace(held[channel], live_after=live_after, replay_through=None)
        return True

    def finish_replay(self, connection_id: str, channel: str, through: int) -> None:
        held = self.subscriptions.get(connection_id, {})
        if channel in held:
            held[channel] = replace(held[channel], replay_through=through)

    def claim_sequence(self, connection_id: str, channel: str, sequence: int, expires_at: datetime) -> bool:
        key = (connection_id, channel, sequence)
        if key in self.sequence_claims:
            return False
        self.sequence_claims.add(key)
        return True

    def connections_in(self, bucket: int) -> Iterator[str]:
        yield from sorted(c for c in self.connections if heartbeat_bucket(c) == bucket)

    def remove_subscription(self, connection_id: str, channel: str) -> bool:
        self.countdowns.discard((channel, connection_id))
        return self.subscriptions.get(connection_id, {}).pop(channel, None) is not None

    def subscribers(self, channel: str) -> Iterator[Subscriber]:
        for held in list(self.subscriptions.values()):
            if channel in held:
                yield held[channel]

    def countdown_channels(self) -> Iterator[str]:
        yield from sorted({channel for channel, _ in self.countdowns})

    def claim_event(self, event_id: str, expires_at: datetime) -> bool:
        if event_id in self.claimed:
            return False
        self.claimed.add(event_id)
        return True

    def release_event(self, event_id: str) -> None:
        self.claimed.discard(event_id)


@dataclass
class RecordingPusher:
    gone: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def push(self, connection_id: str, message: Mapping[str, Any]) -> PushOutcome:
        if connection_id in self.gone:
            return PushOutcome.GONE
        if connection_id in self.failing:
            return PushOutcome.FAILED
        self.sent.append((connection_id, dict(message)))
        return PushOutcome.DELIVERED

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for conn, message in self.sent if conn == connection_id]

    def events_to(self, connection_id: str) -> list[dict[str, Any]]:
        """What reached the connection apart from heartbeats."""
        return [message for message in self.to(connection_id) if message["event"] != "heartbeat"]


@dataclass
class FakeWallets:
    wallets: dict[str, WalletSnapshot] = field(default_factory=dict)

    def get(self, wallet_id: str, viewer: Viewer | None) -> WalletSnapshot | None:
        wallet = self.wallets.get(wallet_id)
        if wallet is None or viewer is None:
            return wallet
        return wallet if may_view(viewer, wallet.tenant_id, wallet.customer_id, wallet.invoice_id) else None


@dataclass
class FakeInvoices:
    invoices: dict[tuple[str, str], InvoiceView] = field(default_factory=dict)

    def add(self, tenant_id: str, invoice_id: str, customer_id: str, status: str = "sent") -> InvoiceView:
        view = InvoiceView(
            invoice_id,
            tenant_id,
            customer_id,
            {
                "invoice_id": invoice_id,
                "status": status,
                "total_amount": "100.00",
                "customer_id": customer_id,
            },
            is_draft=status == "draft",
        )
        self.invoices[(tenant_id, invoice_id)] = view
        return view

    def get(self, tenant_id: str, invoice_id: str) -> InvoiceView | None:
        return self.invoices.get((tenant_id, invoice_id))


@dataclass
class InMemoryHistory:
    """The history as realtime reads it: events by tenant and resource, and each resource's counter.

    `hidden` holds sequences the index does not show yet (a GSI lagging its table)."""

    events: list[StoredEvent] = field(default_factory=list)
    counters: dict[tuple[str, str, str], int] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)

    def record(
        self,
        tenant_id: str,
        resource: tuple[str, str],
        name: str,
        channels: list[str],
        at: datetime,
        data: dict[str, Any] | None = None,
    ) -> StoredEvent:
        key = (tenant_id, *resource)
        self.counters[key] = self.counters.get(key, 0) + 1
        event = StoredEvent(
            id=f"evt_{len(self.events):024d}",
            type=name,
            resource_type=resource[0],
            resource_id=resource[1],
            sequence=self.counters[key],
            data={"tenant_id": tenant_id, **(data or {})},
            created_at=iso(at),
            tenant_id=tenant_id,
            channels=tuple(channels),
        )
        self.events.append(event)
        return event

    def latest_sequence(self, tenant_id: str, resource_type: str, resource_id: str) -> int:
        return self.counters.get((tenant_id, resource_type, resource_id), 0)

    def replay(
        self, tenant_id: str, resource_id: str, after_sequence: int, through_sequence: int
    ) -> list[StoredEvent]:
        return [
            e
            for e in self.events
            if e.tenant_id == tenant_id
            and e.resource_id == resource_id
            and after_sequence < e.sequence <= through_sequence
            and e.sequence not in self.hidden
        ]
