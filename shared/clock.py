"""The clock port and its adapters: the domain never reads the wall clock itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class ScaledClock:
    """Wall clock, optionally running `speed` times faster from `origin` (epoch seconds).

    The local runtime sets WALLETS_SPEED / WALLETS_CLOCK_ORIGIN for every function and uses the same
    formula for TTL sweeps and schedules, so minutes of TTL can pass in seconds. Speed 1 is the wall clock.
    """

    def __init__(self, speed: float = 1.0, origin: float = 0.0) -> None:
        self._speed = speed
        self._origin = origin

    def epoch(self) -> float:
        wall = time.time()
        if self._speed == 1.0:
            return wall
        return self._origin + (wall - self._origin) * self._speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), tz=UTC)


class FixedClock:
    """A clock for tests: stands still until advanced."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)
