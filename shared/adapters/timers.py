"""Named one-off timers on EventBridge Scheduler: one `at()` schedule per key (`<prefix>-<key>`) invoking a
function with `{<input key>: key}`, deleted after it fires. Payouts scheduled for later (PayoutTimer) and
webhook retries (RetryTimer) are two kinds of it; wallet destruction keeps its own scheduler, which also
answers the moment an earlier creation already scheduled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.scheduler import OneOffTarget, create_at_schedule, scheduler_call


@dataclass(frozen=True)
class TimerKind:
    """What a kind of timer is called, what its target reads the key from, and what its schedules say."""

    prefix: str
    input_key: str
    purpose: str  # the schedule's description, `{key}` replaced

    def name(self, key: str) -> str:
        return f"{self.prefix}-{key}"


PAYOUT = TimerKind("payout", "payout_id", "Payout {key}: paid at its scheduled moment")
WEBHOOK_RETRY = TimerKind("whd", "webhook_delivery_id", "Webhook delivery {key}: next attempt")


class SchedulerTimers:
    """Timers of one kind in one schedule group; the target's ARN is read when a timer is set, since a
    function may learn its own ARN only from its first invocation."""

    def __init__(
        self,
        client: Any,
        kind: TimerKind,
        *,
        group_name: str,
        role_arn: str,
        dead_letter_arn: str,
        target: Callable[[], str],
        replace: bool,
    ) -> None:
        self._client = client
        self._kind = kind
        self._group = group_name
        self._role = role_arn
        self._dlq = dead_letter_arn
        self._target = target
        # True: setting a timer again moves it (a retry rescheduled). False: the first one stands and
        # setting it again is a no-op (the same approval retried after a lost race).
        self._replace = replace

    def schedule(self, key: str, at: datetime) -> None:
        if self._replace:
            # The functions may only create, get and delete schedules: a move is a delete, then a create.
            self.cancel(key)
        try:
            create_at_schedule(
                self._client,
                OneOffTarget(self._group, self._target(), self._role, self._dlq),
                self._kind.name(key),
                at,
                {self._kind.input_key: key},
                self._kind.purpose.format(key=key),
            )
        except ClientError as exc:
            if self._replace or exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise

    def cancel(self, key: str) -> None:
        try:
            scheduler_call(self._client, "delete_schedule", Name=self._kind.name(key), GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
