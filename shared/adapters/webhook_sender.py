"""WebhookSender on httpx: one POST with a hard timeout, no redirects followed (a redirect could lead to an
address the URL check never saw), the answer reduced to status, duration and Retry-After."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from shared.events.deliveries import SendResult


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))


class HttpxWebhookSender:
    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(follow_redirects=False, trust_env=False)

    def send(self, url: str, headers: dict[str, str], body: bytes, timeout: timedelta) -> SendResult:
        started = time.monotonic()
        seconds = timeout.total_seconds()
        try:
            response = self._client.post(url, content=body, headers=headers, timeout=httpx.Timeout(seconds))
        except httpx.TimeoutException:
            return SendResult(None, _elapsed(started), error="timed out")
        except httpx.HTTPError as exc:
            return SendResult(None, _elapsed(started), error=f"unreachable: {type(exc).__name__}")
        wait = retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        error = None if response.is_success else f"answered {response.status_code}"
        return SendResult(response.status_code, _elapsed(started), wait, error)


def _elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
