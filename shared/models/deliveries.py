"""API input and output schemas of the webhook delivery log and redelivery routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.events.deliveries import Delivery, DeliveryPage
from shared.models.output import Output


class RedeliverRange(BaseModel):
    """Every event of `[since, until)`, at most 30 days apart, within the 90 days kept."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    since: AwareDatetime
    until: AwareDatetime


class DeliveryOut(Output):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    state: Literal["pending", "succeeded", "failed", "abandoned"]
    status_code: int | None
    duration_ms: int | None
    error: str | None
    next_attempt_at: str | None
    original_delivery_id: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_record(cls, delivery: Delivery) -> DeliveryOut:
        return cls.model_validate(delivery.to_api())


class DeliveryPageOut(Output):
    deliveries: list[DeliveryOut]
    next_cursor: str | None
    has_more: bool

    @classmethod
    def from_record(cls, page: DeliveryPage) -> DeliveryPageOut:
        items = [DeliveryOut.from_record(d) for d in page.items]
        return cls(deliveries=items, next_cursor=page.next_cursor, has_more=page.next_cursor is not None)


class DeliveryListOut(Output):
    deliveries: list[DeliveryOut]
