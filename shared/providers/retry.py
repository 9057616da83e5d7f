"""Bounded retries with exponential backoff for provider HTTP calls, free of any HTTP library.

The adapter hands over a `send` closure that always sends the same request (same body, same idempotency
key), so a retry after a lost response is the same operation at the provider, never a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from shared.providers.errors import ProviderCallFailed, ProviderRejected

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any
    retry_after_s: float | None = None


class TransportFailure(Exception):
    """The request got no answer: timeout, refused or reset connection."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        backoff: float = min(self.max_delay_s, self.base_delay_s * float(2**attempt))
        if retry_after_s is not None:
            return float(min(self.max_delay_s, max(backoff, retry_after_s)))
        return backoff


def send_with_retries(provider: str, send: Callable[[], HttpAnswer], policy: RetryPolicy) -> HttpAnswer:
    """The first non-retryable answer; ProviderCallFailed once every attempt timed out or got 5xx/429."""
    problem = "no attempt made"
    for attempt in range(policy.attempts):
        retry_after: float | None = None
        try:
            answer = send()
        except TransportFailure as exc:
            problem = str(exc) or type(exc).__name__
        else:
            if answer.status not in RETRYABLE_STATUSES:
                return answer
            problem = f"HTTP {answer.status}"
            retry_after = answer.retry_after_s
        if attempt + 1 < policy.attempts:
            policy.sleep(policy.delay(attempt, retry_after))
    raise ProviderCallFailed(provider, f"{problem} after {policy.attempts} attempts")


def refuse(provider: str, status: int, message: str, reason: str) -> NoReturn:
    """A non-2xx answer the retries gave back: a 4xx is the provider refusing (`reason`; a retry cannot
    help), anything else, and a refused credential, is an outage for the breaker to count."""
    if status in (401, 403) or not 400 <= status < 500:
        raise ProviderCallFailed(provider, f"HTTP {status}: {message}")
    raise ProviderRejected(provider, reason, message, status)
