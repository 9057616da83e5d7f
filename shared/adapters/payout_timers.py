"""PayoutTimer on EventBridge Scheduler: one `at()` schedule per scheduled payout (`payout-<id>`), invoking
payout_worker with `{"payout_id": ...}` and deleted after it fires."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.scheduler import at_expression, scheduler_call

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
        target: dict[str, Any] = {
            "Arn": self._target(),
            "RoleArn": self._role,
            "Input": json.dumps({INPUT_KEY: payout_id}),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185},
        }
        if self._dlq:
            target["DeadLetterConfig"] = {"Arn": self._dlq}
        try:
            scheduler_call(
                self._client,
                "create_schedule",
                Name=timer_name(payout_id),
                GroupName=self._group,
                ScheduleExpression=at_expression(at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Description=f"Payout {payout_id}: paid at its scheduled moment",
                Target=target,
            )
        except ClientError as exc:
            # The same approval again (a retry after a lost race): its schedule is already there.
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
