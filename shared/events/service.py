"""Event history use cases: a merchant or admin lists and reads its own tenant's events."""

from __future__ import annotations

from datetime import datetime

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.errors import NotFound, ValidationFailed
from shared.events.ports import EventHistory
from shared.events.records import EventPage, EventQuery, StoredEvent


class EventService:
    def __init__(self, history: EventHistory) -> None:
        self._history = history

    def list_events(
        self,
        principal: Principal,
        *,
        type: str | None = None,
        resource_id: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> EventPage:
        require_role(principal, MERCHANT, ADMIN)
        if created_gte is not None and created_lt is not None and created_gte >= created_lt:
            raise ValidationFailed(
                "created_gte must be before created_lt",
                [{"field": "created_lt", "message": "must be after created_gte", "type": "value_error"}],
            )
        query = EventQuery(principal.tenant_id, type, resource_id, created_gte, created_lt, limit, cursor)
        return self._history.page(query)

    def get_event(self, principal: Principal, event_id: str) -> StoredEvent:
        require_role(principal, MERCHANT, ADMIN)
        event = self._history.get(principal.tenant_id, event_id)
        if event is None:
            raise NotFound("event not found")
        return event
