"""Recorded provider state: health per provider, the circuit breaker's state machine, and the primary."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from shared.providers.models import HealthStatus

# Success rate is computed over this many recent health checks (one a minute: the last 20 minutes).
HEALTH_WINDOW = 20


@dataclass(frozen=True)
class HealthRecord:
    name: str
    status: HealthStatus
    latency_ms: int
    checked_at: datetime
    samples: tuple[bool, ...] = ()
    tps: Decimal | None = None
    error_rate: Decimal | None = None
    error: str | None = None
    version: int = 0

    @property
    def success_rate(self) -> Decimal:
        if not self.samples:
            return Decimal(0)
        return (Decimal(sum(self.samples)) / Decimal(len(self.samples))).quantize(Decimal("0.0001"))


class BreakerPhase(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """Open after `failure_threshold` consecutive failures, or when at least `min_calls` calls in the
    current `window` failed at `error_rate_threshold` or more; try again after `cool_down`."""

    failure_threshold: int = 5
    error_rate_threshold: Decimal = Decimal("0.5")
    min_calls: int = 10
    window: timedelta = timedelta(seconds=60)
    cool_down: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class BreakerState:
    name: str
    phase: BreakerPhase = BreakerPhase.CLOSED
    consecutive_failures: int = 0
    window_started_at: datetime | None = None
    window_calls: int = 0
    window_failures: int = 0
    opened_at: datetime | None = None
    trial_started_at: datetime | None = None
    version: int = 0

    def blocks(self, now: datetime, policy: BreakerPolicy) -> bool:
        """Whether a call must not be tried now (read-only: the selector's view)."""
        if self.phase is BreakerPhase.OPEN:
            return self.opened_at is not None and now < self.opened_at + policy.cool_down
        if self.phase is BreakerPhase.HALF_OPEN:
            # One trial at a time; a trial whose caller died is abandoned after a cool-down.
            return self.trial_started_at is not None and now < self.trial_started_at + policy.cool_down
        return False

    def admit(self, now: datetime, policy: BreakerPolicy) -> BreakerState | None:
        """The state after letting one call through, itself if unchanged, or None when the call is refused."""
        if self.blocks(now, policy):
            return None
        if self.phase is BreakerPhase.CLOSED:
            return self
        return replace(self, phase=BreakerPhase.HALF_OPEN, trial_started_at=now)

    def _windowed(self, now: datetime, policy: BreakerPolicy) -> BreakerState:
        if self.window_started_at is None or now >= self.window_started_at + policy.window:
            return replace(self, window_started_at=now, window_calls=0, window_failures=0)
        return self

    def after_success(self, now: datetime, policy: BreakerPolicy) -> BreakerState:
        state = self._windowed(now, policy)
        if state.phase is not BreakerPhase.CLOSED:
            # The half-open trial worked: close with a fresh window so old failures do not reopen it.
            return replace(
                state,
                phase=BreakerPhase.CLOSED,
                consecutive_failures=0,
                window_started_at=now,
                window_calls=1,
                window_failures=0,
                opened_at=None,
                trial_started_at=None,
            )
        return replace(state, consecutive_failures=0, window_calls=state.window_calls + 1)

    def after_failure(self, now: datetime, policy: BreakerPolicy) -> BreakerState:
        state = self._windowed(now, policy)
        state = replace(
            state,
            consecutive_failures=state.consecutive_failures + 1,
            window_calls=state.window_calls + 1,
            window_failures=state.window_failures + 1,
        )
        if state.phase is not BreakerPhase.CLOSED or _trips(state, policy):
            return replace(state, phase=BreakerPhase.OPEN, opened_at=now, trial_started_at=None)
        return state


def _trips(state: BreakerState, policy: BreakerPolicy) -> bool:
    if state.consecutive_failures >= policy.failure_threshold:
        return True
    if state.window_calls < policy.min_calls:
        return False
    return Decimal(state.window_failures) / Decimal(state.window_calls) >= policy.error_rate_threshold


@dataclass(frozen=True)
class PrimaryRecord:
    """The provider new operations go to; None when no provider is usable."""

    name: str | None
    since: datetime
    reason: str
    previous: str | None = None
    version: int = 0
