"""Ports of the realtime service: connection store, pusher, wallet snapshots and invoice reads."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from shared.events.records import StoredEvent

ROLE_CONSUMER = "consumer"
ROLE_MERCHANT = "merchant"
ROLE_ADMIN = "admin"
ROLE_OPERATOR = "operator"
# Connections are split into this many heartbeat buckets; the minute tick heartbeats one bucket in turn.
HEARTBEAT_BUCKETS = 2


def heartbeat_bucket(connection_id: str) -> int:
    """The connection's bucket: a stable hash of its id (not Python's salted hash())."""
    return zlib.crc32(connection_id.encode("utf-8")) % HEARTBEAT_BUCKETS


@dataclass(frozen=True)
class Viewer:
    """Who holds a WebSocket connection, as the authorizer established it at `$connect`.

    `link_invoice_id` is set for a connection opened with a payment-link token: such a connection may only
    follow its own invoice and that invoice's wallet (docs/DESIGN.md, "link scope").
    """

    sub: str
    tenant_id: str
    roles: frozenset[str]
    link_invoice_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def is_operator(self) -> bool:
        return ROLE_OPERATOR in self.roles and self.link_invoice_id is None

    @property
    def acts_for_tenant(self) -> bool:
        return self.link_invoice_id is None and bool({ROLE_MERCHANT, ROLE_ADMIN} & self.roles)


@dataclass(frozen=True)
class Connection:
    connection_id: str
    viewer: Viewer
    connected_at: datetime


@dataclass(frozen=True)
class Subscriber:
    """One subscription as the fan-out sees it: the viewer is copied onto it so no per-connection read.

    A resumed subscription (`subscribe` with `after_sequence`) carries the seam between replay and live
    (shared/realtime/resume.py): the fan-out leaves its own resource's events up to `live_after` to the
    replay, and until `replay_through` is set it claims each one so that replay and live never both send it.
    """

    connection_id: str
    viewer: Viewer
    live_after: int | None = None
    replay_through: int | None = None


class SubscribeOutcome(Enum):
    ADDED = "added"
    ALREADY_SUBSCRIBED = "already_subscribed"
    LIMIT_REACHED = "limit_reached"
    NO_CONNECTION = "no_connection"


class PushOutcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    FAILED = "failed"


class ConnectionStore(Protocol):
    def put_connection(self, connection: Connection, expires_at: datetime) -> None: ...

    def get_connection(self, connection_id: str) -> Connection | None: ...

    def delete_connection(self, connection_id: str) -> int:
        """Delete the connection and every subscription it holds; returns how many items went."""
        ...

    def add_subscription(
        self, subscriber: Subscriber, channel: str, countdown: bool, limit: int, expires_at: datetime
    ) -> SubscribeOutcome:
        """Store the subscription (with the subscriber's `live_after`, if any) unless the connection already
        holds `limit` of them (atomically)."""
        ...

    def resume_subscription(self, connection_id: str, channel: str, live_after: int) -> bool:
        """Turn a subscription the connection already holds into a resumed one (`live_after` set,
        `replay_through` cleared); False when it is gone."""
        ...

    def finish_replay(self, connection_id: str, channel: str, through: int) -> None:
        """Record that the replay sent (or claimed) every event of the resource up to `through`."""
        ...

    def claim_sequence(self, connection_id: str, channel: str, sequence: int, expires_at: datetime) -> bool:
        """True the first time the event `sequence` of the channel's resource is claimed for this
        connection: the replay and the live fan-out both claim in the seam, and only the winner sends."""
        ...

    def remove_subscription(self, connection_id: str, channel: str) -> bool: ...

    def subscribers(self, channel: str) -> Iterator[Subscriber]: ...

    def countdown_channels(self) -> Iterator[str]:
        """Countdown channels with at least one subscriber, each once, without scanning the table."""
        ...

    def connections_in(self, bucket: int) -> Iterator[str]:
        """Ids of the live connections of heartbeat bucket `bucket` (put_connection files each in one of
        HEARTBEAT_BUCKETS), without scanning the table."""
        ...

    def claim_event(self, event_id: str, expires_at: datetime) -> bool:
        """True the first time an event id is claimed for fan-out; False for a redelivered duplicate."""
        ...

    def release_event(self, event_id: str) -> None:
        """Undo a claim whose fan-out failed, so that the redelivery is pushed."""
        ...


class Pusher(Protocol):
    def push(self, connection_id: str, message: Mapping[str, Any]) -> PushOutcome: ...


@dataclass(frozen=True)
class WalletSnapshot:
    """The wallet fields realtime clients may see; amounts are decimal strings."""

    wallet_id: str
    tenant_id: str
    customer_id: str | None
    invoice_id: str | None
    status: str
    wallet_type: str
    balance: str
    currency: str | None
    expires_at: datetime | None


class WalletSnapshots(Protocol):
    def get(self, wallet_id: str, viewer: Viewer | None) -> WalletSnapshot | None:
        """The wallet as `viewer` may see it, or None when missing or not visible to them.

        `viewer` None is the platform itself (the countdown tick), which sees every wallet.
        """
        ...


@dataclass(frozen=True)
class InvoiceView:
    invoice_id: str
    tenant_id: str
    customer_id: str | None
    public: Mapping[str, Any]
    # A draft is the merchant's work in progress: only the tenant's merchants and admins may follow it.
    is_draft: bool = False


class InvoiceReader(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> InvoiceView | None:
        """The tenant's invoice, or None when missing or soft-deleted."""
        ...


class ResourceHistory(Protocol):
    """What a resume reads of the event history (shared.events.ports.EventHistory has the same methods)."""

    def latest_sequence(self, tenant_id: str, resource_type: str, resource_id: str) -> int:
        """The resource's last assigned sequence (0 before its first event), read strongly consistent."""
        ...

    def replay(
        self, tenant_id: str, resource_id: str, after_sequence: int, through_sequence: int
    ) -> list[StoredEvent]:
        """The resource's events with `after_sequence < sequence <= through_sequence`, oldest first."""
        ...
