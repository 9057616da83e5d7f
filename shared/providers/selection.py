"""Choosing a provider from RECORDED health and breakers (never a live probe per request)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.providers.models import DEFAULT_ORDER, HealthStatus
from shared.providers.state import BreakerPhase, BreakerPolicy, BreakerState, HealthRecord

# Lower is better. Unknown (no record yet, or the checker stopped) ranks below degraded but is still tried:
# the breaker guards it, and refusing every mint until the first scheduled check would be an outage.
_GRADES = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1}
_UNKNOWN = 2


@dataclass(frozen=True)
class SelectionPolicy:
    order: tuple[str, ...] = DEFAULT_ORDER
    stale_after: timedelta = timedelta(minutes=5)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(frozen=True)
class Election:
    name: str | None
    grades: dict[str, int | None]

    def describe(
        self, name: str, health: Mapping[str, HealthRecord], breakers: Mapping[str, BreakerState]
    ) -> str:
        """Why `name` stands where it does, for a switch's reason: "tempo down", "tempo circuit open"."""
        breaker = breakers.get(name)
        if breaker is not None and breaker.phase is not BreakerPhase.CLOSED and self.grades.get(name) is None:
            return f"{name} circuit {breaker.phase.value}"
        record = health.get(name)
        return f"{name} {record.status.value}" if record is not None else f"{name} unknown"


def grade(
    name: str,
    health: Mapping[str, HealthRecord],
    breakers: Mapping[str, BreakerState],
    now: datetime,
    policy: SelectionPolicy,
) -> int | None:
    """How usable `name` is now (lower is better), or None when it must not be used."""
    breaker = breakers.get(name)
    if breaker is not None and breaker.blocks(now, policy.breaker):
        return None
    record = health.get(name)
    if record is None or now - record.checked_at > policy.stale_after:
        return _UNKNOWN
    return _GRADES.get(record.status)


def elect(
    health: Mapping[str, HealthRecord],
    breakers: Mapping[str, BreakerState],
    now: datetime,
    policy: SelectionPolicy,
    preference: str | None = None,
) -> Election:
    """The best usable provider: a usable preferred one first, else by grade, then by the default order."""
    grades = {name: grade(name, health, breakers, now, policy) for name in policy.order}
    if preference in grades and grades[preference] is not None and grades[preference] != _UNKNOWN:
        return Election(preference, grades)
    usable = [(g, index, name) for index, (name, g) in enumerate(grades.items()) if g is not None]
    return Election(min(usable)[2] if usable else None, grades)
