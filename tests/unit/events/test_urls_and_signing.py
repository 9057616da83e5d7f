"""Webhook URL rules (deployed and local), Standard Webhooks signatures against the official verifier, the
retry schedule's jitter bounds, and event-name matching."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from shared.events.catalog import is_known_event, matches
from shared.events.deliveries import MAX_ATTEMPTS, RETRY_DELAYS, next_delay
from shared.events.endpoints import new_secret
from shared.events.signing import headers, payload
from shared.events.urls import UrlRefused, check_url


class Hosts:
    def resolve(self, host: str) -> list[str]:
        table = {
            "public.example": ["93.184.216.34"],
            "metadata.example": ["169.254.169.254"],
            "v6.example": ["::1"],
        }
        return [host] if host[0].isdigit() else table.get(host, [])


@pytest.mark.parametrize(
    ("url", "loopback", "allowed"),
    [
        ("https://public.example/hook", False, True),
        ("http://public.example/hook", False, False),
        ("https://metadata.example/hook", False, False),
        ("https://10.0.0.1/hook", False, False),
        ("https://192.168.1.1/hook", False, False),
        ("https://100.64.0.1/hook", False, False),
        ("https://127.0.0.1/hook", False, False),
        ("http://127.0.0.1:8080/hook", True, True),
        ("http://v6.example/hook", True, True),
        ("http://metadata.example/hook", True, False),
        ("https://nowhere.example/hook", False, False),
        ("https://public.example:0/hook", False, False),
        ("https://public.example:99999/hook", False, False),
        ("https:///hook", False, False),
        ("javascript:alert(1)", False, False),
    ],
)
def test_url_rules(url: str, loopback: bool, allowed: bool) -> None:
    if allowed:
        check_url(url, Hosts(), allow_loopback=loopback)
    else:
        with pytest.raises(UrlRefused):
            check_url(url, Hosts(), allow_loopback=loopback)


def test_every_live_secret_signs_and_the_official_verifier_accepts_each() -> None:
    old, new = new_secret(), new_secret()
    body = payload("invoice.paid", "2030-01-01T00:00:00.000Z", {"amount": "1.00"})
    signed = headers([old, new], "evt_1", datetime.now(UTC), body)
    for secret in (old, new):
        assert Webhook(secret).verify(body, signed)["type"] == "invoice.paid"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, signed)


def test_retry_delays_stay_within_their_jitter_and_end() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(RETRY_DELAYS, start=1):
        for _ in range(50):
            delay = next_delay(attempt, rng)
            assert delay is not None and abs(delay - base) <= base * 0.1 + timedelta(microseconds=1)
    assert next_delay(MAX_ATTEMPTS, rng) is None and next_delay(0, rng) is None
    assert sum(RETRY_DELAYS, timedelta()) > timedelta(days=3)


def test_event_names_and_families() -> None:
    assert (
        is_known_event("invoice.paid") and is_known_event("payout.*") and is_known_event("payout.item_paid")
    )
    assert not is_known_event("invoice.payed") and not is_known_event("payout.") and not is_known_event("x.*")
    assert matches(("*",), "wallet:funded") and matches(("payout.*",), "payout.completed")
    assert not matches(("invoice.paid",), "invoice.sent")
