"""Webhook verification: stand-in deliveries pass; tampering, wrong secrets and stale ones fail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import stripe

from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_payments import StripePaymentProcessor, StripeWebhookVerifier
from shared.cards.ports import WebhookSignatureInvalid
from shared.errors import ValidationFailed
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver

SECRET = "whsec_integration_secret"


@pytest.fixture(scope="module")
def standin(receiver: WebhookReceiver) -> Iterator[BackgroundStandIn]:
    with BackgroundStandIn(Options(webhook_url=receiver.url, webhook_secret=SECRET)) as server:
        yield server


@pytest.fixture
def verifier() -> StripeWebhookVerifier:
    return StripeWebhookVerifier(SECRET)


def _event(event_type: str = "payment_intent.succeeded") -> str:
    return json.dumps(
        {
            "id": "evt_test_1",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount_received": 500}},
        }
    )


def test_a_delivery_from_the_stand_in_verifies(
    standin: BackgroundStandIn, receiver: WebhookReceiver, verifier: StripeWebhookVerifier
) -> None:
    payments = StripePaymentProcessor(build_stripe_client("sk_test_hooks", standin.base_url))
    result = payments.charge(2_200, "usd", "pm_card_visa", "fund-hook", {"wallet_id": "wal_h"})

    def has_success(received: list[Received]) -> bool:
        return any(b'"payment_intent.succeeded"' in item.body for item in received)

    delivered = next(i for i in receiver.wait_for(has_success) if b'"payment_intent.succeeded"' in i.body)
    event = verifier.verify(delivered.body, delivered.signature)
    assert event.event_type == "payment_intent.succeeded" and event.event_id.startswith("evt_")
    assert event.data_object["id"] == result.intent_id
    assert event.data_object["metadata"] == {"wallet_id": "wal_h"}
    assert event.livemode is False and abs(event.created.timestamp() - time.time()) < 60


def test_a_fresh_signature_is_accepted(verifier: StripeWebhookVerifier) -> None:
    body = _event()
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    event = verifier.verify(body.encode(), header)
    assert (event.event_id, event.data_object["amount_received"]) == ("evt_test_1", 500)


def test_a_tampered_body_is_rejected(verifier: StripeWebhookVerifier) -> None:
    body = _event()
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    tampered = body.replace('"amount_received": 500', '"amount_received": 500000')
    with pytest.raises(WebhookSignatureInvalid) as caught:
        verifier.verify(tampered.encode(), header)
    assert isinstance(caught.value, ValidationFailed) and caught.value.status == 400


def test_the_wrong_secret_is_rejected(verifier: StripeWebhookVerifier) -> None:
    body = _event()
    header = stripe.WebhookSignature.generate_signature_header(body, "whsec_someone_else")
    with pytest.raises(WebhookSignatureInvalid):
        verifier.verify(body.encode(), header)


def test_a_signature_older_than_five_minutes_is_rejected(verifier: StripeWebhookVerifier) -> None:
    body = _event()
    stale = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookSignatureInvalid, match="tolerance"):
        verifier.verify(body.encode(), stale)
    recent = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=int(time.time()) - 240)
    assert verifier.verify(body.encode(), recent).event_id == "evt_test_1"


@pytest.mark.parametrize("header", [None, "", "garbage", "t=notanumber,v1=abc"])
def test_missing_or_malformed_headers_are_rejected(
    verifier: StripeWebhookVerifier, header: str | None
) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        verifier.verify(_event().encode(), header)


def test_a_signed_body_that_is_not_an_event_is_rejected(verifier: StripeWebhookVerifier) -> None:
    body = json.dumps({"object": "payment_intent", "id": "pi_1"})
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        verifier.verify(body.encode(), header)
