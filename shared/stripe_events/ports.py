"""Ports of Stripe webhook handling: the processed-event log and the release of a failed payment's claim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from shared.outbox.records import Record


class StripeEventLog(Protocol):
    def seen(self, event_id: str) -> bool:
        """Whether the event was processed before (read strongly consistent)."""
        ...

    def record(self, record: dict[str, Any]) -> bool:
        """Write the event's record unless it exists; False when it was already there."""
        ...


class FundingRelease(Protocol):
    def release(self, wallet_id: str, intent_id: str, records: Sequence[Record]) -> bool:
        """Release the wallet's funding claim for a failed PaymentIntent, with `records`, in one transaction.

        Only a claim that is free (never taken, or released) is touched: it counts one more attempt, so a
        caller without an Idempotency-Key gets a new Stripe key. Once per intent; False (nothing written)
        when the claim is minting or funded, or this intent was released before."""
        ...


class IdentityEvents(Protocol):
    """Stripe Identity's VerificationSession events, applied to consumers' KYC levels."""

    handles: tuple[str, ...]

    def apply(self, event_type: str, session: dict[str, Any], record: dict[str, Any]) -> str:
        """The outcome; `record` (the event's processed marker) is written with the effect, if any."""
        ...


class ConsumerMoneyEvents(Protocol):
    """Stripe events of consumer deposits and withdrawals (shared/consumer/money_events.py)."""

    def claims(self, event_type: str, data: dict[str, Any]) -> bool:
        """Whether the event's object belongs to a consumer deposit or withdrawal (by its metadata)."""
        ...

    def apply(self, event_type: str, data: dict[str, Any], record: dict[str, Any]) -> str:
        """The outcome; `record` (the event's processed marker) is written with the effect, if any."""
        ...
