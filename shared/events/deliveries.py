"""Webhook delivery records and the retry schedule (API.md: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
20 h and 24 h after each failure, with jitter; about three days in all)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from shared.outbox.records import iso

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1  # each delay +- 10%, so endpoints that failed together do not all come back together
SEND_TIMEOUT = timedelta(seconds=15)
# A failure run this long disables the endpoint (`webhook_endpoint.disabled`).
DISABLE_AFTER = timedelta(days=5)
MAX_RETRY_AFTER = timedelta(hours=24)
# While an attempt runs, its retry is already scheduled this far ahead: a crash between the send and the
# record leaves the delivery to that timer (at least once), never silently dropped.
IN_FLIGHT_GUARD = timedelta(minutes=2)


class DeliveryState(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    """One first delivery per (event, endpoint): a repeated fan-out of the same event finds it."""
    digest = hashlib.sha256(f"{event_id}|{endpoint_id}".encode()).hexdigest()
    return "whd_" + digest[:24]


def next_delay(attempts_made: int, rng: random.Random | None = None) -> timedelta | None:
    """The wait after the `attempts_made`-th failed attempt, jittered; None once the schedule is spent."""
    if attempts_made < 1 or attempts_made > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts_made - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base.total_seconds() * factor)


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    tenant_id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempt: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    status_code: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    original_delivery_id: str | None = None
    version: int = 1

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "attempt": self.attempt,
            "state": self.state.value,
            "status_code": self.status_code,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "next_attempt_at": iso(self.next_attempt_at) if self.next_attempt_at else None,
            "original_delivery_id": self.original_delivery_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class SendResult:
    """What one POST got: a status (None when no answer: refused, timed out, unreachable)."""

    status_code: int | None
    duration_ms: int
    retry_after: timedelta | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None
