"""Domain events and audit items: written in the same transaction as the state change they describe.

Events leave through the table's stream (see docs/DESIGN.md): an event committed is an event published, even
if the writer dies right after. A `DomainEvent` names the resource it is about (`invoice`, `wallet`, ...);
the DynamoDB adapter (shared/adapters/dynamodb_events.py) stores it, keys it for the history and assigns its
per-resource `sequence` inside the same transaction. An `AuditEntry` says who did what to which resource,
when and from where; the DynamoDB adapter (shared/adapters/dynamodb_audit.py) turns it into its `AUDIT#`
item and reads it back for the admin view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias, get_args

from shared.ids import new_id
from shared.outbox.request_origin import current_origin

# The history's retention (API.md "Events and webhooks": every event kept 90 days).
EVENT_RETENTION = timedelta(days=90)

ResourceType = Literal[
    "invoice", "wallet", "payout", "consumer", "import", "provider", "reserve", "webhook_endpoint"
]
RESOURCE_TYPES: tuple[str, ...] = get_args(ResourceType)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, sortable as a string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Resource:
    """What an event is about: its sequence counts per resource, and history filters by its id."""

    type: ResourceType
    id: str

    def __post_init__(self) -> None:
        if self.type not in RESOURCE_TYPES:
            raise ValueError(f"unknown resource type {self.type!r}")
        if not self.id:
            raise ValueError("a resource needs an id")


@dataclass(frozen=True)
class DomainEvent:
    """One event, as the domain states it; storage keys and the sequence are the adapter's business.

    `tenant_id` is whose event it is (history and webhooks are tenant-scoped); None for platform events
    (provider health, reserve), which only operators see on the `platform`/`admin` channels.
    """

    name: str
    resource: Resource
    channels: tuple[str, ...]
    data: dict[str, Any]
    created_at: datetime
    tenant_id: str | None = None
    id: str = field(default_factory=lambda: new_id("evt"))


def domain_event(
    name: str, channels: list[str], data: dict[str, Any], now: datetime, *, resource: Resource
) -> DomainEvent:
    """The event `name` about `resource`; its tenant is the data's `tenant_id` (None for platform events)."""
    tenant = data.get("tenant_id")
    return DomainEvent(
        name=name,
        resource=resource,
        channels=tuple(channels),
        data=data,
        created_at=now,
        tenant_id=tenant if isinstance(tenant, str) and tenant else None,
    )


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry, as the domain states it: `actor` did `action` to the resource `resource_id` of
    `tenant_id` at `at`, changing `changes`; `ip_address` and `request_id` are the request's being served
    (None for scheduled and stream work). Keys and indexes are the adapter's business."""

    resource_id: str
    action: str
    actor: str
    tenant_id: str
    at: datetime
    changes: dict[str, Any]
    ip_address: str | None = None
    request_id: str | None = None
    id: str = field(default_factory=lambda: new_id("aud"))

    @property
    def resource_type(self) -> str:
        """What kind of resource it is about, as the audit view shows it: the action's first part."""
        return self.action.split(".", 1)[0]


def audit_entry(
    resource_id: str, action: str, actor: str, tenant_id: str, now: datetime, changes: dict[str, Any]
) -> AuditEntry:
    """The entry of `action` on `resource_id`, with the client IP and request id of the request being
    served, if any (shared.outbox.request_origin)."""
    origin = current_origin()
    return AuditEntry(
        resource_id=resource_id,
        action=action,
        actor=actor,
        tenant_id=tenant_id,
        at=now,
        changes=changes,
        ip_address=origin.ip_address if origin else None,
        request_id=origin.request_id if origin else None,
    )


# What a state change's transaction carries beside it: its audit entries and domain events (and the odd
# marker item of a capability's own, such as a Stripe event's).
Record: TypeAlias = dict[str, Any] | DomainEvent | AuditEntry
