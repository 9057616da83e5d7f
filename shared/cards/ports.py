"""Ports to the card issuer and the payment processor (Stripe in production): results and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.errors import PaymentFailed, ValidationFailed, WalletsError

CardStatus = Literal["active", "inactive", "canceled"]
PaymentStatus = Literal[
    "succeeded",
    "processing",
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "canceled",
]


@dataclass(frozen=True)
class CardholderAddress:
    line1: str
    city: str
    postal_code: str
    country: str
    state: str | None = None
    line2: str | None = None


@dataclass(frozen=True)
class IssuedCard:
    """A virtual card as the issuer reports it; never its full number or CVC."""

    card_id: str
    last4: str
    exp_month: int
    exp_year: int
    status: CardStatus
    spending_limit_minor: int
    currency: str
    wallet_id: str | None = None


class CardIssuer(Protocol):
    """Single-use virtual cards capped at an invoice amount.

    One cardholder per tenant (the merchant business): a cardholder is an identity the issuer verifies,
    while a card is what each ephemeral wallet gets and loses. Every write carries the caller's
    idempotency key, so a retried create never issues a second card.
    """

    def create_cardholder(
        self, tenant_id: str, name: str, email: str, address: CardholderAddress, idempotency_key: str
    ) -> str:
        """Create the tenant's company cardholder; returns its reference for create_card."""
        ...

    def create_card(
        self,
        wallet_id: str,
        cardholder_ref: str,
        spending_limit_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> IssuedCard:
        """An active virtual card whose all-time and per-authorization limits are `spending_limit_minor`."""
        ...

    def get_card(self, card_id: str) -> IssuedCard: ...

    def deactivate_card(self, card_id: str, idempotency_key: str) -> IssuedCard:
        """Cancel the card for good; cancelling a cancelled card returns it unchanged."""
        ...

    def remaining_limit(self, card_id: str) -> int:
        """The all-time limit minus every approved authorization, never below zero."""
        ...


@dataclass(frozen=True)
class PaymentResult:
    """A PaymentIntent after create/confirm or retrieve; amounts in minor units."""

    intent_id: str
    status: PaymentStatus
    amount_minor: int
    amount_received_minor: int
    currency: str
    latest_charge: str | None
    decline_code: str | None = None
    failure_message: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    intent_id: str | None
    amount_minor: int
    currency: str
    status: str


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event: Stripe's id (for deduplication), type and the object it carries."""

    event_id: str
    event_type: str
    created: datetime
    data_object: dict[str, Any]
    livemode: bool


class PaymentProcessor(Protocol):
    def charge(
        self,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> PaymentResult:
        """Create and confirm a PaymentIntent. Card: succeeded or PaymentDeclined. ACH: processing."""
        ...

    def retrieve(self, intent_id: str) -> PaymentResult: ...

    def refund(
        self, intent_id: str, amount_minor: int, idempotency_key: str, reason: str | None = None
    ) -> RefundResult:
        """Refund part or all of what the intent received; more than what is left is ProcessorRejected."""
        ...

    def refunds_of(self, intent_id: str) -> list[RefundResult]:
        """The intent's refunds, newest first: how a resumed destruction finds a refund it already made."""
        ...


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """The event if the signature is right and fresh, else WebhookSignatureInvalid."""
        ...


class PaymentDeclined(PaymentFailed):
    """The payer's bank or card network said no (402); nothing was charged."""

    def __init__(self, message: str, decline_code: str | None, payment_intent_id: str | None) -> None:
        super().__init__(
            message, details=[{"decline_code": decline_code, "payment_intent_id": payment_intent_id}]
        )
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class ProcessorRejected(WalletsError):
    """The processor refused our request as malformed, unauthorized or against its rules: a bug or a
    misconfiguration on our side, never the payer's fault, and not worth retrying unchanged."""

    status, code = 502, "processor_rejected"

    def __init__(self, message: str, processor_code: str | None = None) -> None:
        super().__init__(message, details=[{"processor_code": processor_code}] if processor_code else [])
        self.processor_code = processor_code


class WebhookSignatureInvalid(ValidationFailed):
    """A webhook whose signature is missing, wrong, or older than the tolerance."""
