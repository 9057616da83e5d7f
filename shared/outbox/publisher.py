"""Outbox publishing: committed `OUTBOX#` items become events on the bus, at least once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ValidationFailed

EVENT_SOURCE = "monay.wallets"


class BusEventDetail(BaseModel):
    """The `detail` of every event the stream function puts on the bus (docs/DESIGN.md).

    `event_id` is the outbox item's id: the stream delivers at least once, so consumers dedupe on it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: str = Field(min_length=1, max_length=128)
    channels: tuple[str, ...]
    data: dict[str, Any]
    ts: str = Field(min_length=1)
    event_id: str = Field(min_length=1, max_length=128)
    # What the event is about and its place in that resource's history (API.md: WebSocket resume).
    resource: dict[str, str] | None = None
    sequence: int | None = None

    @property
    def tenant_id(self) -> str | None:
        tenant = self.data.get("tenant_id")
        return tenant if isinstance(tenant, str) and tenant else None


class _OutboxItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=128)
    event_name: str = Field(min_length=1, max_length=128)
    channels: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(min_length=1)
    resource_type: str | None = None
    resource_id: str | None = None
    sequence: int | None = None


def bus_detail_from_outbox_item(item: Mapping[str, Any]) -> BusEventDetail:
    """The bus detail of an outbox item (plain JSON values, as the adapter deserialized them)."""
    try:
        outbox = _OutboxItem.model_validate(dict(item))
    except ValidationError as exc:
        raise ValidationFailed(f"malformed outbox item: {exc.error_count()} field error(s)") from exc
    return BusEventDetail(
        event=outbox.event_name,
        channels=tuple(outbox.channels),
        data=outbox.data,
        ts=outbox.created_at,
        event_id=outbox.event_id,
        resource=(
            {"type": outbox.resource_type, "id": outbox.resource_id}
            if outbox.resource_type and outbox.resource_id
            else None
        ),
        sequence=outbox.sequence,
    )


class EventBus(Protocol):
    def publish(self, details: Sequence[BusEventDetail]) -> list[str | None]:
        """Put the events on the bus; one entry per detail, in order: None when accepted, else the error.

        An adapter never raises for a rejected entry: the caller retries only what failed.
        """
        ...
