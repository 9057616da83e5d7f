"""PaymentIntents and refunds through the real SDK, with Stripe's test payment methods."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import control, raw


def pay(client: stripe.StripeClient, method: str, amount: int = 2_500, **extra: Any) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": method, "confirm": True, **extra}
    )


@pytest.mark.parametrize("method", ["pm_card_visa", "pm_card_mastercard"])
def test_card_payment_succeeds_with_a_charge(client: stripe.StripeClient, method: str) -> None:
    intent = pay(client, method, metadata={"wallet_id": "wal_1"})
    assert intent.id.startswith("pi_") and intent.status == "succeeded"
    assert intent.amount_received == 2_500 and intent.latest_charge.startswith("ch_")
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.amount_captured, charge.payment_intent) == ("succeeded", 2_500, intent.id)
    assert client.v1.payment_intents.retrieve(intent.id).metadata.to_dict() == {"wallet_id": "wal_1"}


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_insufficientFunds", "insufficient_funds")],
)
def test_declines_are_402_and_leave_the_intent_awaiting_a_method(
    client: stripe.StripeClient, method: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as caught:
        pay(client, method)
    error = caught.value
    assert (error.http_status, error.code, error.error.decline_code) == (402, "card_declined", decline_code)
    intent_id = error.error.payment_intent.id
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert intent.status == "requires_payment_method" and intent.amount_received == 0
    assert intent.last_payment_error.decline_code == decline_code
    assert client.v1.charges.retrieve(intent.latest_charge).status == "failed"


def test_unknown_payment_method_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        pay(client, "pm_does_not_exist")
    assert (caught.value.http_status, caught.value.code, caught.value.param) == (
        400,
        "resource_missing",
        "payment_method",
    )


def test_amount_rules(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    with pytest.raises(stripe.InvalidRequestError) as small:
        pay(client, "pm_card_visa", amount=49)
    assert small.value.code == "amount_too_small"
    status, _, body = raw(
        standin,
        "POST",
        "/v1/payment_intents",
        "amount=10.50&currency=usd",
        {"Authorization": "Bearer sk_test_unit"},
    )
    assert status == 400 and body["error"]["param"] == "amount"


def test_ach_processing_completes_through_control(
    client: stripe.StripeClient, standin: BackgroundStandIn
) -> None:
    intent = pay(client, "pm_usBankAccount")
    assert intent.status == "processing" and intent.amount_received == 0
    completed = control(standin, "POST", f"/_control/payment_intents/{intent.id}/complete")
    assert completed["status"] == "succeeded"
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "succeeded" and after.amount_received == 2_500


def test_ach_can_fail_after_processing(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    intent = pay(client, "pm_usBankAccount")
    control(standin, "POST", f"/_control/payment_intents/{intent.id}/complete", {"outcome": "failed"})
    after = client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "insufficient_funds"


def test_create_then_confirm_then_cancel_rules(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 700, "currency": "usd"})
    assert intent.status == "requires_payment_method"
    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.cancel(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"
    other = client.v1.payment_intents.create(params={"amount": 700, "currency": "usd"})
    canceled = client.v1.payment_intents.cancel(other.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"


def test_partial_then_full_refunds_and_over_refund_refused(client: stripe.StripeClient) -> None:
    intent = pay(client, "pm_card_visa", amount=1_000)
    partial = client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 300, "reason": "requested_by_customer"}
    )
    assert partial.id.startswith("re_") and (partial.status, partial.amount) == ("succeeded", 300)
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 701})
    assert (over.value.http_status, over.value.param) == (400, "amount")
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 700
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.amount_refunded == 1_000 and charge.refunded is True
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert sorted(r.amount for r in listed.data) == [300, 700]
    assert client.v1.refunds.retrieve(partial.id).amount == 300


def test_refund_of_an_unsucceeded_intent_is_refused(client: stripe.StripeClient) -> None:
    intent = pay(client, "pm_usBankAccount")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert caught.value.code == "charge_not_refundable"
