"""Signed webhook delivery in a background thread, retried with exponential backoff on failure."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("local.stripe.webhooks")

# The runtime.toml local secret; anything deployed gets its secret from Secrets Manager, never from here.
LOCAL_WEBHOOK_SECRET = "whsec_local"  # noqa: S105


def sign(payload: str, secret: str, timestamp: int) -> str:
    """Stripe's scheme: `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>" keyed by the endpoint secret>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Delivery:
    event_id: str
    event_type: str
    payload: str
    url: str
    secret: str
    status: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)
    next_attempt_at: float | None = None

    def view(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "status": self.status,
            "attempts": list(self.attempts),
            "next_attempt_at": self.next_attempt_at,
        }


class WebhookDispatcher:
    """Queues events for one endpoint and POSTs them from a worker thread, so no API request waits on it."""

    def __init__(
        self,
        url: str | None = None,
        secret: str = LOCAL_WEBHOOK_SECRET,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._deliveries: list[Delivery] = []
        self._queue: list[tuple[float, int, Delivery]] = []
        self._sequence = itertools.count()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="stripe-webhooks", daemon=True)
        self._thread.start()

    def configure(self, url: str | None, secret: str | None = None) -> None:
        with self._wake:
            self.url = url
            if secret:
                self.secret = secret

    def enqueue(self, event: dict[str, Any]) -> None:
        with self._wake:
            if not self.url:
                return
            delivery = Delivery(
                event_id=event["id"],
                event_type=event["type"],
                payload=json.dumps(event, indent=2),
                url=self.url,
                secret=self.secret,
                next_attempt_at=self._clock(),
            )
            self._deliveries.append(delivery)
            heapq.heappush(self._queue, (self._clock(), next(self._sequence), delivery))
            self._wake.notify()

    def resend(self, event_id: str) -> bool:
        """Deliver an event once more, byte for byte (Stripe's "Resend" in the Dashboard; also what an
        at-least-once delivery looks like to the endpoint). False when no such event was sent."""
        with self._wake:
            sent = next((d for d in self._deliveries if d.event_id == event_id), None)
            if sent is None or not self.url:
                return False
            delivery = Delivery(
                sent.event_id,
                sent.event_type,
                sent.payload,
                self.url,
                self.secret,
                next_attempt_at=self._clock(),
            )
            self._deliveries.append(delivery)
            heapq.heappush(self._queue, (self._clock(), next(self._sequence), delivery))
            self._wake.notify()
            return True

    def deliveries(self) -> list[dict[str, Any]]:
        with self._wake:
            return [delivery.view() for delivery in self._deliveries]

    def reset(self) -> None:
        with self._wake:
            self._deliveries.clear()
            self._queue.clear()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._queue or self._queue[0][0] > self._clock()):
                    wait = None if not self._queue else max(0.0, self._queue[0][0] - self._clock())
                    self._wake.wait(timeout=wait)
                if self._closed:
                    return
                _, _, delivery = heapq.heappop(self._queue)
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        timestamp = int(self._clock())
        request = urllib.request.Request(
            delivery.url,
            data=delivery.payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(delivery.payload, delivery.secret, timestamp),
            },
        )
        status: int | None = None
        error: str | None = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = str(exc)
        with self._wake:
            delivery.attempts.append({"at": timestamp, "status_code": status, "error": error})
            if status is not None and 200 <= status < 300:
                delivery.status, delivery.next_attempt_at = "delivered", None
            elif len(delivery.attempts) >= self.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
                log.warning("webhook %s gave up after %d attempts", delivery.event_id, len(delivery.attempts))
            else:
                delay = self.backoff_seconds * 2 ** (len(delivery.attempts) - 1)
                delivery.next_attempt_at = self._clock() + delay
                heapq.heappush(self._queue, (delivery.next_attempt_at, next(self._sequence), delivery))
