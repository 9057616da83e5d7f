"""The Stripe payments adapter against the local stand-in: charges, declines, ACH, refunds, error mapping."""

from __future__ import annotations

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.cards.ports import PaymentDeclined, ProcessorRejected
from shared.errors import DependencyUnavailable, IdempotencyKeyReuse, PaymentFailed, ValidationFailed
from tests.integration.conftest import STRIPE_TEST_KEY
from tests.unit.stripe_standin.conftest import control

KEY = STRIPE_TEST_KEY


@pytest.fixture
def payments(sdk: stripe.StripeClient) -> StripePaymentProcessor:
    return StripePaymentProcessor(sdk)


def test_card_charge_succeeds(payments: StripePaymentProcessor, sdk: stripe.StripeClient) -> None:
    result = payments.charge(12_550, "USD", "pm_card_visa", "fund-wal_1", {"wallet_id": "wal_1"})
    assert result.status == "succeeded" and result.intent_id.startswith("pi_")
    assert (result.amount_minor, result.amount_received_minor, result.currency) == (12_550, 12_550, "usd")
    assert result.latest_charge and result.latest_charge.startswith("ch_")
    assert result.metadata == {"wallet_id": "wal_1"} and result.decline_code is None
    assert sdk.v1.charges.retrieve(result.latest_charge).amount_captured == 12_550


@pytest.mark.parametrize(
    ("method", "code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_insufficientFunds", "insufficient_funds")],
)
def test_a_decline_is_payment_failed_with_its_code(
    payments: StripePaymentProcessor, method: str, code: str
) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        payments.charge(5_000, "usd", method, f"fund-{method}", {})
    error = caught.value
    assert isinstance(error, PaymentFailed) and error.status == 402 and error.code == "payment_failed"
    assert error.decline_code == code and error.payment_intent_id
    assert error.details == [{"decline_code": code, "payment_intent_id": error.payment_intent_id}]
    later = payments.retrieve(error.payment_intent_id)
    assert later.status == "requires_payment_method" and later.decline_code == code
    assert later.amount_received_minor == 0


def test_a_retried_charge_with_the_same_key_charges_once(
    payments: StripePaymentProcessor, sdk: stripe.StripeClient
) -> None:
    first = payments.charge(3_000, "usd", "pm_card_visa", "fund-wal_9", {"wallet_id": "wal_9"})
    again = payments.charge(3_000, "usd", "pm_card_visa", "fund-wal_9", {"wallet_id": "wal_9"})
    assert again.intent_id == first.intent_id
    assert len(sdk.v1.events.list(params={"type": "payment_intent.succeeded"}).data) == 1
    with pytest.raises(IdempotencyKeyReuse):
        payments.charge(3_001, "usd", "pm_card_visa", "fund-wal_9", {"wallet_id": "wal_9"})


def test_ach_is_processing_until_the_bank_settles(
    payments: StripePaymentProcessor, standin: BackgroundStandIn
) -> None:
    result = payments.charge(40_000, "usd", "pm_usBankAccount", "fund-ach", {})
    assert result.status == "processing" and result.amount_received_minor == 0
    control(standin, "POST", f"/_control/payment_intents/{result.intent_id}/complete")
    settled = payments.retrieve(result.intent_id)
    assert settled.status == "succeeded" and settled.amount_received_minor == 40_000


def test_a_failed_ach_payment_reads_without_a_decline_code(
    payments: StripePaymentProcessor, standin: BackgroundStandIn
) -> None:
    result = payments.charge(40_000, "usd", "pm_usBankAccount", "fund-ach-fails", {})
    control(standin, "POST", f"/_control/payment_intents/{result.intent_id}/complete", {"outcome": "failed"})
    failed = payments.retrieve(result.intent_id)
    assert failed.status == "requires_payment_method" and failed.amount_received_minor == 0
    assert failed.failure_message


def test_refunds_partial_then_rest_and_never_more(payments: StripePaymentProcessor) -> None:
    paid = payments.charge(10_000, "usd", "pm_card_visa", "fund-r", {})
    part = payments.refund(paid.intent_id, 2_500, "refund-r-1", reason="requested_by_customer")
    assert (part.amount_minor, part.intent_id, part.status, part.currency) == (
        2_500,
        paid.intent_id,
        "succeeded",
        "usd",
    )
    replay = payments.refund(paid.intent_id, 2_500, "refund-r-1", reason="requested_by_customer")
    assert replay.refund_id == part.refund_id
    with pytest.raises(ProcessorRejected) as caught:
        payments.refund(paid.intent_id, 7_501, "refund-r-2")
    assert caught.value.processor_code == "amount_too_large"
    assert payments.refund(paid.intent_id, 7_500, "refund-r-3").amount_minor == 7_500


@pytest.mark.parametrize("amount", [0, -1, True, 10.0])
def test_amounts_are_positive_integer_minor_units(payments: StripePaymentProcessor, amount: object) -> None:
    with pytest.raises(ValidationFailed):
        payments.charge(amount, "usd", "pm_card_visa", "k", {})  # type: ignore[arg-type]


def test_refund_reason_is_checked(payments: StripePaymentProcessor) -> None:
    with pytest.raises(ValidationFailed):
        payments.refund("pi_x", 100, "k", reason="because")


def test_stand_in_down_is_dependency_unavailable(
    payments: StripePaymentProcessor, standin: BackgroundStandIn
) -> None:
    control(standin, "POST", "/_control/down", {"down": True})
    with pytest.raises(DependencyUnavailable) as caught:
        payments.charge(1_000, "usd", "pm_card_visa", "fund-down", {})
    assert caught.value.status == 503
    control(standin, "POST", "/_control/down", {"down": False})
    assert payments.charge(1_000, "usd", "pm_card_visa", "fund-down", {}).status == "succeeded"


def test_an_unknown_payment_method_is_a_validation_error(payments: StripePaymentProcessor) -> None:
    with pytest.raises(ValidationFailed) as caught:
        payments.charge(1_000, "usd", "pm_unknown", "fund-unknown", {})
    assert caught.value.status == 400 and caught.value.details[0]["field"] == "payment_method"
