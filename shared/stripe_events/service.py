"""Stripe webhook events: verified, processed once per event id, and applied to wallet fundings.

- the signature is checked first (400 and nothing changes when it is bad or stale);
- an event id seen before answers 200 and does nothing;
- `payment_intent.succeeded` completes the funding a processing payment started, through the same
  claim, mint key and journal operation id as the synchronous path (the event record commits with it);
- `payment_intent.payment_failed` releases the wallet's funding claim unless a claim is minting or funded
  (so a failure delivered after the success changes nothing);
- a consumer deposit's PaymentIntent events and a consumer withdrawal's `payout.failed` go to
  shared/consumer/money_events.py (recognised by their metadata);
- `identity.verification_session.*` goes to the KYC upgrades (shared/consumer/kyc.py) when they are wired;
- any other type is recorded and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from shared.cards.ports import PaymentResult, PaymentStatus, WebhookEvent, WebhookVerifier
from shared.clock import Clock
from shared.funding.service import FundingService
from shared.outbox.records import iso
from shared.stripe_events.ports import ConsumerMoneyEvents, FundingRelease, IdentityEvents, StripeEventLog

SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
FAILED_STATUSES = ("requires_payment_method", "canceled")


def event_pk(event_id: str) -> str:
    return f"STRIPEEVENT#{event_id}"


def event_record(event: WebhookEvent, now: datetime) -> dict[str, Any]:
    """The item that marks `event` processed; written with attribute_not_exists."""
    return {
        "pk": event_pk(event.event_id),
        "sk": "EVENT",
        "entity": "stripe_event",
        "event_id": event.event_id,
        "event_type": event.event_type,
        "object_id": str(event.data_object.get("id", "")),
        "livemode": event.livemode,
        "received_at": iso(now),
    }


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    event_type: str
    outcome: str


def payment_of(data: dict[str, Any]) -> PaymentResult:
    """The PaymentIntent an event carries, in the payment port's terms (integer minor units)."""
    metadata = data.get("metadata")
    return PaymentResult(
        intent_id=str(data.get("id", "")),
        status=cast(PaymentStatus, str(data.get("status", ""))),
        amount_minor=_minor(data.get("amount")),
        amount_received_minor=_minor(data.get("amount_received")),
        currency=str(data.get("currency", "")),
        latest_charge=data.get("latest_charge") if isinstance(data.get("latest_charge"), str) else None,
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
    )


def _minor(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class StripeEventService:
    def __init__(
        self,
        verifier: WebhookVerifier,
        events: StripeEventLog,
        funding: FundingService,
        release: FundingRelease,
        clock: Clock,
        identity: IdentityEvents | None = None,
        consumer_money: ConsumerMoneyEvents | None = None,
    ) -> None:
        self._identity = identity
        self._consumer_money = consumer_money
        self._verifier = verifier
        self._events = events
        self._funding = funding
        self._release = release
        self._clock = clock

    def handle(self, payload: bytes, signature: str | None) -> EventOutcome:
        event = self._verifier.verify(payload, signature)
        if self._events.seen(event.event_id):
            return EventOutcome(event.event_id, event.event_type, "duplicate")
        record = event_record(event, self._clock.now())
        money = self._consumer_money
        if money is not None and money.claims(event.event_type, event.data_object):
            outcome = money.apply(event.event_type, event.data_object, record)
        elif event.event_type == SUCCEEDED:
            outcome = self._funding.complete_payment(
                payment_of(event.data_object), [{**record, "outcome": "funded"}]
            )
        elif event.event_type == PAYMENT_FAILED:
            outcome = self._failed(payment_of(event.data_object), record)
        elif self._identity is not None and event.event_type in self._identity.handles:
            outcome = self._identity.apply(event.event_type, event.data_object, record)
        else:
            outcome = "ignored"
        # Written with the effect when there was one; otherwise now (a no-op when it already exists).
        self._events.record({**record, "outcome": outcome})
        return EventOutcome(event.event_id, event.event_type, outcome)

    def _failed(self, payment: PaymentResult, record: dict[str, Any]) -> str:
        wallet_id = payment.metadata.get("wallet_id")
        if not wallet_id or not payment.intent_id:
            return "ignored"
        if payment.status not in FAILED_STATUSES:
            return "ignored"
        if self._release.release(wallet_id, payment.intent_id, [{**record, "outcome": "released"}]):
            return "released"
        return "ignored"
