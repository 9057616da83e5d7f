"""Ports of the realtime service: connection store, pusher, wallet snapshots and invoice reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

ROLE_CONSUMER = "consumer"
ROLE_MERCHANT = "merchant"
ROLE_ADMIN = "admin"
ROLE_OPERATOR = "operator"


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
    """One subscription as the fan-out sees it: the viewer is copied onto it so no per-connection read."""

    connection_id: str
    viewer: Viewer


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
        """Store the subscription unless the connection already holds `limit` of them (atomically)."""
        ...

    def remove_subscription(self, connection_id: str, channel: str) -> bool: ...

    def subscribers(self, channel: str) -> Iterator[Subscriber]: ...

    def countdown_channels(self) -> Iterator[str]:
        """Countdown channels with at least one subscriber, each once, without scanning the table."""
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
