"""Injected trouble: fail the next N calls or a seeded share of them, time out, add latency, go down."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

MODES = ("error", "timeout", "timeout_after")
STATUSES = (429, 500, 502, 503)


@dataclass
class FailureRule:
    """`error` answers `status` without acting; `timeout` hangs without acting; `timeout_after` acts,
    then hangs, so the caller never learns that it succeeded (the case idempotency keys exist for)."""

    mode: str
    status: int
    path: str
    method: str | None
    remaining: int | None
    probability: float | None
    hang_seconds: float


class FaultPlan:
    """Thread-safe plan consulted before every API call (not /_control). The RNG is seeded, so a
    given sequence of requests meets the same failures on every run."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[FailureRule] = []
        self.latency_seconds = 0.0
        self.latency_path = "/"
        self.down = False
        self.fired = 0
        """Calls failed by a rule since the last reset (a test's count of the faults it injected)."""

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        mode = str(spec.get("mode", "error"))
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        status = int(spec.get("status", 500))
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        count, probability = spec.get("count"), spec.get("probability")
        if (count is None) == (probability is None):
            raise ValueError("give exactly one of count (next N calls) or probability (a share of calls)")
        if count is not None and int(count) < 1:
            raise ValueError("count must be at least 1")
        if probability is not None and not 0 < float(probability) <= 1:
            raise ValueError("probability must be in (0, 1]")
        hang = float(spec.get("hang_seconds", 30.0))
        if hang < 0:
            raise ValueError("hang_seconds must not be negative")
        rule = FailureRule(
            mode=mode,
            status=status,
            path=str(spec.get("path", "/")),
            method=spec.get("method"),
            remaining=int(count) if count is not None else None,
            probability=float(probability) if probability is not None else None,
            hang_seconds=hang,
        )
        with self._lock:
            if "seed" in spec:
                self._seed = int(spec["seed"])
                self._rng = random.Random(self._seed)
            self._rules.append(rule)
        return asdict(rule)

    def set_latency(self, seconds: float, path: str = "/") -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self.latency_seconds, self.latency_path = seconds, path

    def latency_for(self, path: str) -> float:
        with self._lock:
            return self.latency_seconds if path.startswith(self.latency_path) else 0.0

    def take(self, method: str, path: str) -> FailureRule | None:
        """The rule that fails this call, if any; counted rules are used up as they fire."""
        with self._lock:
            for rule in self._rules:
                if not path.startswith(rule.path) or rule.method not in (None, method):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    self.fired += 1
                    return rule
                if rule.probability is not None and self._rng.random() < rule.probability:
                    self.fired += 1
                    return rule
        return None

    def clear(self) -> None:
        """No more failures, latency or outage; the count of faults fired so far stays."""
        with self._lock:
            self._rules.clear()
            self.latency_seconds, self.latency_path, self.down = 0.0, "/", False

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            self._seed = self._seed if seed is None else seed
            self._rng = random.Random(self._seed)
            self._rules.clear()
            self.latency_seconds, self.latency_path, self.down = 0.0, "/", False
            self.fired = 0

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "down": self.down,
                "seed": self._seed,
                "latency_seconds": self.latency_seconds,
                "latency_path": self.latency_path,
                "failures": [asdict(rule) for rule in self._rules],
                "fired": self.fired,
            }
