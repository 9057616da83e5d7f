"""The payment-processor port on Stripe PaymentIntents and refunds, and Stripe webhook verification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import stripe

from shared.adapters.stripe_client import metadata_of, stripe_errors
from shared.cards.ports import (
    PaymentResult,
    PaymentStatus,
    RefundResult,
    WebhookEvent,
    WebhookSignatureInvalid,
)
from shared.errors import ValidationFailed

WEBHOOK_TOLERANCE_SECONDS = 300
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _positive_minor(amount_minor: int, name: str) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValidationFailed(f"{name} must be a positive integer of minor units")


class StripePaymentProcessor:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def charge(
        self,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> PaymentResult:
        _positive_minor(amount_minor, "amount_minor")
        with stripe_errors("create payment intent"):
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "allowed_payment_method_types": ["card", "us_bank_account"],
                    "confirm": True,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        return _payment(intent)

    def retrieve(self, intent_id: str) -> PaymentResult:
        with stripe_errors("retrieve payment intent"):
            return _payment(self._client.v1.payment_intents.retrieve(intent_id))

    def refund(
        self, intent_id: str, amount_minor: int, idempotency_key: str, reason: str | None = None
    ) -> RefundResult:
        _positive_minor(amount_minor, "amount_minor")
        if reason is not None and reason not in REFUND_REASONS:
            raise ValidationFailed(f"refund reason must be one of {', '.join(REFUND_REASONS)}")
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount_minor}
        if reason:
            params["reason"] = reason
        with stripe_errors("create refund"):
            refund = self._client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return _refund(refund)

    def refunds_of(self, intent_id: str) -> list[RefundResult]:
        with stripe_errors("list refunds"):
            page = self._client.v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
            return [_refund(refund) for refund in page.auto_paging_iter()]


def _refund(refund: stripe.Refund) -> RefundResult:
    return RefundResult(
        refund_id=refund.id,
        intent_id=_ref(refund.payment_intent),
        amount_minor=refund.amount,
        currency=refund.currency,
        status=refund.status or "pending",
    )


class StripeWebhookVerifier:
    """Checks `Stripe-Signature` with the endpoint secret and a 5-minute tolerance against replays."""

    def __init__(self, secret: str, tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS) -> None:
        if not secret:
            raise ValueError("a webhook signing secret is required")
        self._secret = secret
        self._tolerance = tolerance_seconds

    def verify(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, self._secret, self._tolerance)
        except stripe.SignatureVerificationError as error:
            raise WebhookSignatureInvalid(f"invalid Stripe signature: {error.user_message}") from error
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WebhookSignatureInvalid("a signed webhook body that is not JSON") from error
        if not isinstance(body, dict) or body.get("object") != "event":
            raise WebhookSignatureInvalid("a signed webhook body that is not a Stripe event")
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
            raise WebhookSignatureInvalid("a Stripe event without data.object")
        if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
            raise WebhookSignatureInvalid("a Stripe event without id or type")
        created = body.get("created")
        return WebhookEvent(
            event_id=body["id"],
            event_type=body["type"],
            created=datetime.fromtimestamp(created if isinstance(created, int) else 0, tz=UTC),
            data_object=data["object"],
            livemode=bool(body.get("livemode", False)),
        )


def _ref(value: Any) -> str | None:
    """An expandable field as its id, whether Stripe sent the id or the object."""
    if value is None or isinstance(value, str):
        return value
    return cast(str, value.id)


def _payment(intent: stripe.PaymentIntent) -> PaymentResult:
    # An error object carries only the fields that apply (an ACH failure has no decline_code), and the SDK
    # raises AttributeError for an absent one: read it as a plain dict.
    error: dict[str, Any] = intent.last_payment_error.to_dict() if intent.last_payment_error else {}
    return PaymentResult(
        intent_id=intent.id,
        status=cast(PaymentStatus, intent.status),
        amount_minor=intent.amount,
        amount_received_minor=intent.amount_received or 0,
        currency=intent.currency,
        latest_charge=_ref(intent.latest_charge),
        decline_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
        metadata=metadata_of(intent.metadata),
    )
