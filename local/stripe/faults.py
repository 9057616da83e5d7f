"""Injected trouble for tests and demos: failing the next N requests, latency, and the whole API down."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from local.stripe.errors import StripeError

_DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Injected invalid request."),
    402: ("card_error", "card_declined", "Your card was declined."),
    409: ("invalid_request_error", "lock_timeout", "This object cannot be accessed right now."),
    429: ("invalid_request_error", "rate_limit", "Too many requests hit the API too quickly."),
    500: ("api_error", None, "An unknown error occurred"),
    502: ("api_error", None, "Bad gateway"),
    503: ("api_error", None, "Stripe is temporarily unavailable."),
}  # fmt: skip


@dataclass
class Failure:
    path_prefix: str
    method: str | None
    remaining: int
    status: int
    error: dict[str, Any]


class Faults:
    """Thread-safe fault plan consulted before every /v1 request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self.latency_seconds = 0.0
        self.latency_prefix = "/v1"
        self.down = False

    def fail_next(self, spec: dict[str, Any]) -> dict[str, Any]:
        status = int(spec.get("status", 500))
        if status not in _DEFAULT_ERRORS:
            raise ValueError(f"status must be one of {sorted(_DEFAULT_ERRORS)}")
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError("count must be at least 1")
        error_type, code, message = _DEFAULT_ERRORS[status]
        error = {
            "type": error_type,
            "message": message,
            **({"code": code} if code else {}),
            **(spec.get("error") or {}),
        }
        failure = Failure(str(spec.get("path", "/v1")), spec.get("method"), count, status, error)
        with self._lock:
            self._failures.append(failure)
        return {
            "path": failure.path_prefix,
            "method": failure.method,
            "count": count,
            "status": status,
            "error": error,
        }

    def set_latency(self, seconds: float, path_prefix: str = "/v1") -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self.latency_seconds, self.latency_prefix = seconds, path_prefix

    def latency_for(self, path: str) -> float:
        with self._lock:
            return self.latency_seconds if path.startswith(self.latency_prefix) else 0.0

    def take_failure(self, method: str, path: str) -> StripeError | None:
        with self._lock:
            if self.down:
                return StripeError(
                    503, "api_error", "Stripe is temporarily unavailable.", saved=False, should_retry=True
                )
            for failure in self._failures:
                if path.startswith(failure.path_prefix) and failure.method in (None, method):
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    error = dict(failure.error)
                    return StripeError(
                        failure.status,
                        error.pop("type"),
                        error.pop("message"),
                        code=error.pop("code", None),
                        decline_code=error.pop("decline_code", None),
                        param=error.pop("param", None),
                        extra=error,
                        saved=False,
                    )
        return None

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "down": self.down,
                "latency_seconds": self.latency_seconds,
                "latency_prefix": self.latency_prefix,
                "failures": [f.__dict__.copy() for f in self._failures],
            }

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.latency_seconds, self.latency_prefix, self.down = 0.0, "/v1", False
