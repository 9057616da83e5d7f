"""PayoutTimer on EventBridge Scheduler: one `at()` schedule per scheduled payout (`payout-<id>`), invoking
payout_worker with `{"payout_id": ...}` and deleted after it fires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.scheduler import OneOffTarget, create_at_schedule

INPUT_KEY = "payout_id"


def timer_name(payout_id: str) -> str:
    return f"payout-{payout_id}"


class SchedulerPayoutTimer:
    def __init__(
        self, client: Any, *, group_name: str, role_arn: str, dead_letter_arn: str, target: Callable[[], str]
    ) -> None:
        self._client = client
        self._group = group_name
        self._role = role_arn
        self._dlq = dead_letter_arn
        self._target = target

    def schedule(self, payout_id: str, at: datetime) -> None:
        where = OneOffTarget(self._group, self._target(), self._role, self._dlq)
        try:
            create_at_schedule(
                self._client,
                where,
                timer_name(payout_id),
                at,
                {INPUT_KEY: payout_id},
                f"Payout {payout_id}: paid at its scheduled moment",
            )
        except ClientError as exc:
            # The same approval again (a retry after a lost race): its schedule is already there.
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
