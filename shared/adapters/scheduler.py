"""DestructionScheduler on EventBridge Scheduler: one `at()` schedule per ephemeral wallet; and the one-off
`at()` schedule and the error translation every Scheduler timer of the house shares."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import DependencyUnavailable


def scheduler_client(region: str) -> Any:
    """The scheduler client, boto3 imported on first use so that no function pays for it at import."""
    import boto3

    return boto3.client("scheduler", region_name=region)


_RETRYABLE = {"ThrottlingException", "InternalServerException", "ServiceQuotaExceededException"}
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def schedule_name(wallet_id: str) -> str:
    """Derived from the wallet id alone, so concurrent and retried creations name the same schedule."""
    return f"destroy-{wallet_id}"


def at_expression(moment: datetime) -> str:
    return f"at({moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def instant_of(expression: str) -> datetime:
    match = _AT.fullmatch(expression)
    if match is None:
        raise ValueError(f"not a one-time expression: {expression!r}")
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC)


class EventBridgeDestructionScheduler:
    def __init__(
        self, client: Any, *, group_name: str, target_arn: str, role_arn: str, dead_letter_arn: str
    ) -> None:
        if not (target_arn and role_arn):
            raise ValueError("the destroy function and the scheduler role are required")
        self._client = client
        self._group = group_name
        self._target = target_arn
        self._role = role_arn
        self._dlq = dead_letter_arn

    def schedule_destruction(self, wallet_id: str, at: datetime) -> datetime:
        try:
            create_at_schedule(
                self._client,
                OneOffTarget(self._group, self._target, self._role, self._dlq),
                schedule_name(wallet_id),
                at,
                {"wallet_id": wallet_id, "trigger": "schedule"},
                f"Destroy wallet {wallet_id} at its expiry",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            # Another creation of this same wallet got here first; its schedule is the one that counts.
            existing = self._call("get_schedule", Name=schedule_name(wallet_id), GroupName=self._group)
            return instant_of(existing["ScheduleExpression"])
        return at.astimezone(UTC).replace(microsecond=0)

    def cancel_destruction(self, wallet_id: str) -> None:
        try:
            self._call("delete_schedule", Name=schedule_name(wallet_id), GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return scheduler_call(self._client, operation, **kwargs)


@dataclass(frozen=True)
class OneOffTarget:
    """Where a one-off schedule goes: its group, the function it invokes, the role Scheduler assumes for that
    and the dead-letter queue of invocations that kept failing ("" for none)."""

    group_name: str
    function_arn: str
    role_arn: str
    dead_letter_arn: str


def create_at_schedule(
    client: Any, where: OneOffTarget, name: str, at: datetime, payload: dict[str, Any], description: str
) -> None:
    """One `at()` schedule invoking `where.function_arn` with `payload` once at `at` (UTC, to the second) and
    deleted after it fires; retried by Scheduler for a day. A schedule of that name already there raises
    ClientError `ConflictException`: each caller decides what an existing one means to it."""
    target: dict[str, Any] = {
        "Arn": where.function_arn,
        "RoleArn": where.role_arn,
        "Input": json.dumps(payload),
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185},
    }
    if where.dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": where.dead_letter_arn}
    scheduler_call(
        client,
        "create_schedule",
        Name=name,
        GroupName=where.group_name,
        ScheduleExpression=at_expression(at),
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        State="ENABLED",
        Description=description,
        Target=target,
    )


def scheduler_call(client: Any, operation: str, **kwargs: Any) -> Any:
    """`client.<operation>(**kwargs)`, an unreachable or throttled Scheduler as DependencyUnavailable (safe to
    retry); other ClientErrors (a missing schedule, a refused request) as they are."""
    try:
        return getattr(client, operation)(**kwargs)
    except BotoCoreError as exc:
        raise DependencyUnavailable("EventBridge Scheduler is unreachable") from exc
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _RETRYABLE:
            raise DependencyUnavailable("EventBridge Scheduler is unavailable") from exc
        raise
