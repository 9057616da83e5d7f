"""RetryTimer on EventBridge Scheduler: one `at()` schedule per pending delivery (`whd-<delivery id>`),
invoking the webhook_delivery function with `{"webhook_delivery_id": ...}` and deleted after it fires.
Rescheduling replaces the schedule (delete, then create: the functions may only create, get and delete)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.scheduler import OneOffTarget, create_at_schedule, scheduler_call

INPUT_KEY = "webhook_delivery_id"


def timer_name(delivery_id: str) -> str:
    return f"whd-{delivery_id}"


class SchedulerRetryTimer:
    def __init__(
        self, client: Any, *, group_name: str, role_arn: str, dead_letter_arn: str, target: Callable[[], str]
    ) -> None:
        self._client = client
        self._group = group_name
        self._role = role_arn
        self._dlq = dead_letter_arn
        self._target = target

    def schedule(self, delivery_id: str, at: datetime) -> None:
        where = OneOffTarget(self._group, self._target(), self._role, self._dlq)
        self.cancel(delivery_id)
        create_at_schedule(
            self._client,
            where,
            timer_name(delivery_id),
            at,
            {INPUT_KEY: delivery_id},
            f"Webhook delivery {delivery_id}: next attempt",
        )

    def cancel(self, delivery_id: str) -> None:
        try:
            self._call("delete_schedule", Name=timer_name(delivery_id), GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return scheduler_call(self._client, operation, **kwargs)
