"""DestructionScheduler on EventBridge Scheduler: one `at()` schedule per ephemeral wallet."""

from __future__ import annotations

import json
import re
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
        target: dict[str, Any] = {
            "Arn": self._target,
            "RoleArn": self._role,
            "Input": json.dumps({"wallet_id": wallet_id, "trigger": "schedule"}),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185},
        }
        if self._dlq:
            target["DeadLetterConfig"] = {"Arn": self._dlq}
        try:
            self._call(
                "create_schedule",
                Name=schedule_name(wallet_id),
                GroupName=self._group,
                ScheduleExpression=at_expression(at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Description=f"Destroy wallet {wallet_id} at its expiry",
                Target=target,
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
