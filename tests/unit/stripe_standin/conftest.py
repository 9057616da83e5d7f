"""A live stand-in on a free port with a webhook receiver; each test starts from a reset account."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.receiver import WebhookReceiver

WEBHOOK_SECRET = "whsec_unit_test_secret"
API_KEY = "sk_test_unit"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live(receiver: WebhookReceiver) -> Iterator[BackgroundStandIn]:
    options = Options(
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_attempts=4,
        webhook_backoff_seconds=0.05,
    )
    with BackgroundStandIn(options) as server:
        yield server


@pytest.fixture
def standin(live: BackgroundStandIn, receiver: WebhookReceiver) -> BackgroundStandIn:
    control(live, "POST", "/_control/reset")
    receiver.reset()
    return live


@pytest.fixture
def client(standin: BackgroundStandIn) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": standin.base_url}, max_network_retries=0)


def control(server: BackgroundStandIn, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body or {}).encode() if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def raw(
    server: BackgroundStandIn, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """A request without the SDK, to see exact statuses and headers (names lower-cased)."""
    request = urllib.request.Request(
        server.base_url + path,
        data=body.encode() if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, _lower(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read())


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def cardholder(client: stripe.StripeClient, name: str = "Acme Corp") -> stripe.issuing.Cardholder:
    return client.v1.issuing.cardholders.create(
        params={
            "name": name,
            "type": "company",
            "email": "ops@acme.test",
            "billing": {
                "address": {"line1": "1 Main St", "city": "SF", "postal_code": "94103", "country": "US"}
            },
        }
    )


def capped_card(
    client: stripe.StripeClient, limit: int = 10_000, status: str = "active"
) -> stripe.issuing.Card:
    holder = cardholder(client)
    return client.v1.issuing.cards.create(
        params={
            "cardholder": holder.id,
            "currency": "usd",
            "type": "virtual",
            "status": status,  # type: ignore[typeddict-item]
            "spending_controls": {
                "spending_limits": [
                    {"amount": limit, "interval": "all_time"},
                    {"amount": limit, "interval": "per_authorization"},
                ]
            },
            "metadata": {"wallet_id": "wal_test", "single_use": "true"},
        }
    )
