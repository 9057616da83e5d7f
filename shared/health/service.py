"""Dependency health for GET /health: named checks, each result cached briefly so probes stay cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import Clock

OK = "ok"


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, str]

    @property
    def healthy(self) -> bool:
        return all(result == OK for result in self.checks.values())


class HealthService:
    """Runs each check (a callable returning "ok" or a short reason) at most once per `cache_for`."""

    def __init__(
        self,
        checks: Mapping[str, Callable[[], str]],
        clock: Clock,
        cache_for: timedelta = timedelta(seconds=10),
    ) -> None:
        self._checks = dict(checks)
        self._clock = clock
        self._cache_for = cache_for
        self._cached: tuple[datetime, HealthReport] | None = None

    def report(self) -> HealthReport:
        now = self._clock.now()
        if self._cached is not None and now - self._cached[0] < self._cache_for:
            return self._cached[1]
        report = HealthReport({name: self._run(check) for name, check in self._checks.items()})
        self._cached = (now, report)
        return report

    @staticmethod
    def _run(check: Callable[[], str]) -> str:
        try:
            return check()
        except Exception as exc:  # a failing probe is a finding, never a crash of /health
            return f"error: {type(exc).__name__}"
