"""API output schemas of the event history routes (`/api/v1/events`), in the contract's envelope."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.events.records import EventPage, StoredEvent


class EventResourceOut(BaseModel):
    type: str
    id: str


class EventOut(BaseModel):
    """One event as kept 90 days: `sequence` strictly increases per resource, without gaps."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    resource: EventResourceOut
    sequence: int
    data: dict[str, Any]
    created_at: str

    @classmethod
    def of(cls, event: StoredEvent) -> EventOut:
        return cls.model_validate(event.to_api())


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def of(cls, page: EventPage) -> EventPageOut:
        events = [EventOut.of(e) for e in page.items]
        return cls(events=events, next_cursor=page.next_cursor, has_more=page.next_cursor is not None)


class EventEnvelope(BaseModel):
    success: Literal[True] = True
    data: EventOut


class EventPageEnvelope(BaseModel):
    success: Literal[True] = True
    data: EventPageOut
