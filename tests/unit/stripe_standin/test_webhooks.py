"""Events and signed webhook delivery, checked with the stripe SDK's own verifier."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import WEBHOOK_SECRET, capped_card, control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver


def _types(received: list[Received]) -> list[str]:
    return [json.loads(item.body)["type"] for item in received if item.status == 200]


def test_payment_events_arrive_signed_as_stripe_signs(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    intent = client.v1.payment_intents.create(
        params={"amount": 2_000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        options={"idempotency_key": "webhook-order"},
    )
    received = receiver.wait_for(lambda got: "payment_intent.succeeded" in _types(got))
    succeeded = next(item for item in received if json.loads(item.body)["type"] == "payment_intent.succeeded")
    event = stripe.Webhook.construct_event(succeeded.body, succeeded.signature, WEBHOOK_SECRET)
    assert event.id.startswith("evt_") and event.object == "event" and event.livemode is False
    assert event.data.object.id == intent.id and event.data.object.status == "succeeded"
    assert event.request.idempotency_key == "webhook-order"
    assert _types(received)[:3] == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(succeeded.body, succeeded.signature, "whsec_wrong")
    fetched = client.v1.events.retrieve(event.id)
    assert fetched.type == "payment_intent.succeeded" and fetched.data.object.id == intent.id


def test_failed_delivery_is_retried_until_accepted(
    client: stripe.StripeClient, receiver: WebhookReceiver, standin: BackgroundStandIn
) -> None:
    receiver.fail_next = 2
    card = capped_card(client)
    received = receiver.wait_for(lambda got: "issuing_card.created" in _types(got))
    statuses = [
        item.status
        for item in received
        if json.loads(item.body)["id"] == _event_id(received, "issuing_card.created")
    ]
    # The receiver sees the accepted attempt a moment before the stand-in records its answer.
    deadline = time.monotonic() + 10
    while True:
        deliveries = control(standin, "GET", "/_control/webhooks")["deliveries"]
        created = next(d for d in deliveries if d["event_type"] == "issuing_card.created")
        if created["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert created["status"] == "delivered"
    assert [a["status_code"] for a in created["attempts"]][-1] == 200
    assert 500 in [a["status_code"] for d in deliveries for a in d["attempts"]]
    assert statuses[-1] == 200
    body = json.loads(next(i.body for i in received if i.status == 200 and b"issuing_card.created" in i.body))
    assert body["data"]["object"]["id"] == card.id


def _event_id(received: list[Received], event_type: str) -> str:
    return next(json.loads(i.body)["id"] for i in received if json.loads(i.body)["type"] == event_type)


def test_delivery_gives_up_after_bounded_attempts(
    client: stripe.StripeClient, receiver: WebhookReceiver, standin: BackgroundStandIn
) -> None:
    receiver.fail_next = 1_000
    holder_id = client.v1.issuing.cardholders.create(
        params={
            "name": "Bounded",
            "type": "individual",
            "billing": {
                "address": {"line1": "1 A St", "city": "SF", "postal_code": "94103", "country": "US"}
            },
        }
    ).id
    receiver.wait_for(lambda got: len(got) >= 4)
    # The last attempt's outcome is recorded just after the receiver answers it.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        deliveries = control(standin, "GET", "/_control/webhooks")["deliveries"]
        if deliveries and deliveries[0]["status"] != "pending":
            break
    assert deliveries[0]["status"] == "failed" and len(deliveries[0]["attempts"]) == 4
    assert client.v1.issuing.cardholders.retrieve(holder_id).name == "Bounded"


def test_card_update_event_carries_previous_attributes(
    client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    card = capped_card(client)
    client.v1.issuing.cards.update(card.id, params={"status": "canceled"})
    received = receiver.wait_for(lambda got: "issuing_card.updated" in _types(got))
    update = next(json.loads(i.body) for i in received if b'"issuing_card.updated"' in i.body)
    assert update["data"]["object"]["status"] == "canceled"
    assert update["data"]["previous_attributes"] == {"status": "active", "cancellation_reason": None}


def test_events_list_filters_by_type(client: stripe.StripeClient) -> None:
    capped_card(client)
    client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    created = client.v1.events.list(params={"type": "issuing_card.created"})
    assert [e.type for e in created.data] == ["issuing_card.created"]
    assert len(client.v1.events.list(params={"limit": 100}).data) == 3
