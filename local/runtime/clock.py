"""The runtime's virtual clock: the same formula as shared.clock.ScaledClock, shared through the env."""

from __future__ import annotations

import time


class VirtualClock:
    """now = origin + (wall - origin) * speed; functions get WALLETS_SPEED and WALLETS_CLOCK_ORIGIN."""

    def __init__(self, speed: float = 1.0, origin: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.origin = time.time() if origin is None else origin

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.speed

    def real_seconds(self, virtual_seconds: float) -> float:
        """How long to wait on the wall clock for `virtual_seconds` to pass."""
        return virtual_seconds / self.speed

    def env(self) -> dict[str, str]:
        return {"WALLETS_SPEED": repr(self.speed), "WALLETS_CLOCK_ORIGIN": repr(self.origin)}
