"""The sweeper: every open claim past its deadline is finished or reversed through the path that opened it,
with that path's idempotency keys (Stripe, the providers and the ledger dedupe), so no money waits on a retry
or a webhook that never comes. Each claim is worked on its own: one that still cannot finish (a provider
down) stays in the index for the next run and shows in the report's age of the oldest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from shared.clock import Clock
from shared.destruction.triggers import Trigger
from shared.stripe_events.ports import FundingRelease
from shared.sweeper.ports import CONSUMER_KINDS, PROCESSING_RECHECK, ClaimIndex, ClaimKind, DueClaim

logger = Logger(child=True)

# Claims worked per run: a run must end well inside the function's timeout; the rest wait five minutes.
BATCH = 200


class ClaimFinishing(Protocol):
    """The funding use cases the sweeper finishes claims with (shared/funding/service.py)."""

    def finish_claim(self, wallet_id: str) -> str: ...

    def finish_refund(self, wallet_id: str, intent_id: str) -> str: ...

    def settle_processing(self, wallet_id: str, intent_id: str) -> str: ...


class RefundFinishing(Protocol):
    """The merchant's wallet refund (shared/funding/wallet_refund.py)."""

    def finish_in_flight(self, wallet_id: str) -> str: ...


class CardFinishing(Protocol):
    """Cards whose wallet never committed (shared/wallets/orphan_cards.py)."""

    def finish_intent(self, wallet_id: str, token: str) -> str: ...

    def finish_cancellation(self, wallet_id: str, generation: int) -> str: ...


class Destroying(Protocol):
    def destroy(self, wallet_id: str, trigger: str) -> Any: ...


class OperationFinishing(Protocol):
    """A consumer's open operations by kind: deposits, withdrawals and transfers out
    (shared/consumer/money_events.py), batch transfers (shared/consumer/batches.py), swaps
    (shared/consumer/swaps.py)."""

    def finish(self, tenant_id: str, user_id: str, op_id: str) -> str: ...


@dataclass
class SweepReport:
    """One run: claims found past their deadline, how each ended, and the oldest one's age."""

    due: int = 0
    oldest_age_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def left_open(self) -> int:
        return self.outcomes["failed"] + self.outcomes["postponed"]


class ClaimSweeper:
    def __init__(
        self,
        index: ClaimIndex,
        funding: ClaimFinishing,
        destruction: Destroying,
        release: FundingRelease,
        clock: Clock,
        refunds: RefundFinishing,
        cards: CardFinishing,
        batch: int = BATCH,
        consumer: Mapping[ClaimKind, OperationFinishing] | None = None,
    ) -> None:
        self._consumer = dict(consumer or {})
        self._index = index
        self._refunds = refunds
        self._cards = cards
        self._funding = funding
        self._destruction = destruction
        self._release = release
        self._clock = clock
        self._batch = batch

    def sweep(self) -> SweepReport:
        now = self._clock.now()
        due = self._index.due(now, self._batch)
        report = SweepReport(due=len(due))
        if due:
            report.oldest_age_seconds = max((now - claim.due_at).total_seconds() for claim in due)
        self._work(due, report)
        return report

    def _work(self, due: Sequence[DueClaim], report: SweepReport) -> None:
        for claim in due:
            try:
                outcome = self._finish(claim)
            except Exception:
                # One claim failing (a provider still down, Stripe unreachable) must not hold the others:
                # it stays in the index, and its age reaches the alarm if it never finishes.
                logger.exception("a claim could not be finished", extra=_described(claim))
                report.outcomes["failed"] += 1
                continue
            if outcome == "processing":
                self._index.postpone(claim, self._clock.now() + PROCESSING_RECHECK)
                report.outcomes["postponed"] += 1
                continue
            self._index.settle(claim)
            report.outcomes[outcome] += 1
            logger.info("claim finished", extra={**_described(claim), "outcome": outcome})

    def _finish(self, claim: DueClaim) -> str:
        if claim.kind is ClaimKind.FUNDING:
            return self._funding.finish_claim(claim.wallet_id)
        if claim.kind is ClaimKind.FUNDING_REFUND:
            return self._funding.finish_refund(claim.wallet_id, claim.intent_id or "")
        if claim.kind is ClaimKind.PAYMENT_PROCESSING:
            outcome = self._funding.settle_processing(claim.wallet_id, claim.intent_id or "")
            if outcome == "failed":
                self._release.release(claim.wallet_id, claim.intent_id or "", [])
                return "released"
            return outcome
        if claim.kind in CONSUMER_KINDS:
            finishing = self._consumer.get(claim.kind)
            if finishing is None or not claim.reference:
                raise RuntimeError(f"a {claim.kind.value} claim, and nothing composed to finish it with")
            tenant_id, user_id, op_id = claim.reference.split("|", 2)
            return finishing.finish(tenant_id, user_id, op_id)
        if claim.kind is ClaimKind.WALLET_REFUND:
            return self._refunds.finish_in_flight(claim.wallet_id)
        if claim.kind is ClaimKind.CARD_INTENT:
            return self._cards.finish_intent(claim.wallet_id, claim.token)
        if claim.kind is ClaimKind.CARD_CANCEL:
            return self._cards.finish_cancellation(claim.wallet_id, claim.generation or 0)
        outcome = self._destruction.destroy(claim.wallet_id, Trigger.SWEEP.value)
        return str(outcome.result)


def _described(claim: DueClaim) -> dict[str, Any]:
    return {"kind": claim.kind.value, "wallet_id": claim.wallet_id, "intent_id": claim.intent_id}
