"""Ports of the event history (a tenant's stored events, written with each state change) and of webhook
endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.events.deliveries import Delivery, DeliveryPage, SendResult
from shared.events.endpoints import EndpointPage, WebhookEndpoint
from shared.events.records import EventPage, EventQuery, StoredEvent
from shared.outbox.records import Record


class EventHistory(Protocol):
    def get(self, tenant_id: str, event_id: str) -> StoredEvent | None:
        """The tenant's event, or None (missing, expired or another tenant's: never told apart)."""
        ...

    def page(self, query: EventQuery) -> EventPage:
        """One page of the tenant's events, newest first; each filter is a Query on an index, not a Scan."""
        ...

    def after(self, tenant_id: str, resource_id: str, after_sequence: int, limit: int) -> list[StoredEvent]:
        """The resource's events with a sequence above `after_sequence`, oldest first (resume, replay)."""
        ...

    def latest_sequence(self, tenant_id: str, resource_type: str, resource_id: str) -> int:
        """The last sequence assigned to the resource (0 before its first event), read strongly consistent:
        every event up to it is committed."""
        ...

    def replay(
        self, tenant_id: str, resource_id: str, after_sequence: int, through_sequence: int
    ) -> list[StoredEvent]:
        """The resource's events with `after_sequence < sequence <= through_sequence`, oldest first.

        Sequences are gap-free, so the history owes exactly `through - after` events: the adapter waits a
        bounded moment for its index to show all of them (it lags the commit), then answers what it holds
        (an event past its 90 days is gone for good).
        """
        ...


class EndpointStore(Protocol):
    """Webhook endpoints on the table; each write carries its audit records in the same transaction."""

    def create(self, endpoint: WebhookEndpoint, cap: int, records: list[Record]) -> None:
        """Put the endpoint and count it against the tenant's cap (LimitExceeded when full)."""
        ...

    def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> EndpointPage: ...

    def of_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the tenant (at most the cap): the fan-out's read."""
        ...

    def update(self, endpoint: WebhookEndpoint, expected_version: int, records: list[Record]) -> None:
        """Replace the endpoint if it is still at `expected_version` (else ConcurrentUpdate)."""
        ...

    def delete(self, endpoint: WebhookEndpoint, records: list[Record]) -> None:
        """Remove it (at its version) and uncount it."""
        ...


class SecretSealer(Protocol):
    """Webhook signing secrets at rest: sealed under a key of their own, bound to their endpoint's id."""

    def seal(self, endpoint_id: str, secret: str) -> bytes: ...

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        """The secret `seal` sealed for this very endpoint (anything else fails to open)."""
        ...


class WebhookSender(Protocol):
    def send(self, url: str, headers: dict[str, str], body: bytes, timeout: timedelta) -> SendResult:
        """POST once; never raises for the receiver's failure (it is the result)."""
        ...


class RetryTimer(Protocol):
    """Durable timers (EventBridge Scheduler `at()`): the delivery function runs `delivery_id` at `at`."""

    def schedule(self, delivery_id: str, at: datetime) -> None: ...

    def cancel(self, delivery_id: str) -> None: ...


class DeliveryStore(Protocol):
    def create(self, delivery: Delivery) -> bool:
        """Put a new delivery; False when one with its id exists (a repeated fan-out)."""
        ...

    def get(self, delivery_id: str) -> Delivery | None: ...

    def save(self, delivery: Delivery, expected_version: int) -> None:
        """Replace it if still at `expected_version` (else ConcurrentUpdate)."""
        ...

    def page(self, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
        """An endpoint's deliveries, newest first."""
        ...

    def endpoint_health(
        self, endpoint: WebhookEndpoint, expected_version: int, records: list[Record]
    ) -> None:
        """Save the endpoint's failure run / disabled state with `records` (its event), at its version."""
        ...
