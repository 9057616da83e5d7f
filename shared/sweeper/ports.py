"""Ports and records of the sweeper: the index of claims with a deadline, written with each claim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

# How long a claim may stay open before the sweeper finishes or reverses it. Every path that opens one
# (a request, a webhook, a schedule) ends well inside this (API functions time out at 28 s, destroy at 120 s).
CLAIM_DEADLINE = timedelta(minutes=5)
# A bank payment still processing at its deadline is looked at again this much later (ACH takes days).
PROCESSING_RECHECK = timedelta(minutes=15)


class ClaimKind(StrEnum):
    """What an open claim is, by the record that holds it (the join point for later kinds, e.g. payouts)."""

    FUNDING = "funding"
    """`FUNDING`: a charge that succeeded and claimed the wallet; its mint or commit has not landed."""
    FUNDING_REFUND = "funding_refund"
    """`FUNDREFUND#{intent}`: a charge being undone; the provider reversal or the Stripe refund is due."""
    PAYMENT_PROCESSING = "payment_processing"
    """`FUNDPROCESSING#{intent}`: a bank payment that answered `processing`; funded when it succeeds."""
    DESTRUCTION = "destruction"
    """`DESTRUCTION`: a destruction begun (burn, refund, card, keys) and not finished."""
    CONSUMER_MONEY = "consumer_money"
    """`OP#{id}` of a consumer: a deposit, withdrawal or transfer out whose outside steps have not all
    landed (shared/consumer/money.py); finished with the operation's own keys."""
    CONSUMER_BATCH = "consumer_batch"
    """`BATCH#{id}` of a consumer: a batch transfer with items held and not yet paid or failed
    (shared/consumer/batches.py); its items are sent again under their own attempt's keys."""
    CONSUMER_SWAP = "consumer_swap"
    """`SWAP#{id}` of a consumer: a swap held whose burn, mint or settlement has not all landed
    (shared/consumer/swaps.py); finished under the swap's burn and mint keys."""
    WALLET_REFUND = "wallet_refund"
    """`REFUND`: a merchant's refund of a wallet in flight (burn, Stripe refund, journal not all done)."""
    CARD_INTENT = "card_intent"
    """`CARDINTENT`: a card asked of Stripe for a wallet whose creation has not committed."""
    CARD_CANCEL = "card_cancel"
    """`CARDCANCEL#{generation}`: a card whose wallet never committed, fenced off and due to be cancelled."""


# Claims of a consumer's records (`CONSUMER#{tenant}#{user}`): their reference names the person and record.
CONSUMER_KINDS = frozenset({ClaimKind.CONSUMER_MONEY, ClaimKind.CONSUMER_BATCH, ClaimKind.CONSUMER_SWAP})


@dataclass(frozen=True)
class DueClaim:
    kind: ClaimKind
    wallet_id: str
    due_at: datetime
    intent_id: str | None = None
    token: str = ""
    """The index position as read: settling or postponing only applies while it is unchanged."""
    reference: str | None = None
    """For a consumer operation, batch or swap: `{tenant}|{user}|{its id}`."""
    generation: int | None = None
    """A card claim's generation (the card idempotency key it stands for)."""


class ClaimIndex(Protocol):
    def due(self, now: datetime, limit: int) -> list[DueClaim]:
        """Open claims whose deadline is at or before `now`, oldest first (at most `limit`)."""
        ...

    def settle(self, claim: DueClaim) -> None:
        """Take the claim out of the index (a no-op when it moved since it was read)."""
        ...

    def postpone(self, claim: DueClaim, until: datetime) -> None:
        """Give the claim a new deadline (a no-op when it moved since it was read)."""
        ...
