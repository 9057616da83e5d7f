"""Event history records: a stored event as a tenant reads it, and a page of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    resource_type: str
    resource_id: str
    sequence: int
    data: dict[str, Any]
    created_at: str
    tenant_id: str | None
    channels: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "resource": {"type": self.resource_type, "id": self.resource_id},
            "sequence": self.sequence,
            "data": self.data,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class EventQuery:
    """A tenant's history, newest first; `type` and `resource_id` narrow it, `created_*` bound it."""

    tenant_id: str
    type: str | None = None
    resource_id: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class EventPage:
    items: list[StoredEvent]
    next_cursor: str | None
