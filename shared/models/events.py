"""API output schemas of the event history routes (`/api/v1/events`), in the contract's envelope."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from shared.events.records import EventPage, StoredEvent
from shared.models.output import Output


class EventResourceOut(Output):
    type: str
    id: str


class EventOut(Output):
    """One event as kept 90 days: `sequence` strictly increases per resource, without gaps."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    resource: EventResourceOut
    sequence: int
    data: dict[str, Any]
    created_at: str

    @classmethod
    def from_record(cls, event: StoredEvent) -> EventOut:
        return cls.model_validate(event.to_api())


class EventPageOut(Output):
    events: list[EventOut]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def from_record(cls, page: EventPage) -> EventPageOut:
        events = [EventOut.from_record(e) for e in page.items]
        return cls(events=events, next_cursor=page.next_cursor, has_more=page.next_cursor is not None)
