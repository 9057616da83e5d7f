"""Ports and records of wallet destruction: the progress record, the store and the outside effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.destruction.triggers import DestructionReason, Trigger
from shared.errors import ConcurrentUpdate
from shared.funding.ports import FundingClaim
from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record


@dataclass(frozen=True)
class DestructionProgress:
    """`WALLET#{id}`/`DESTRUCTION`: written with the wallet's move to `destroying`/`expired`, then at each
    step that must never repeat (the remainder's refund), and closed by the final commit."""

    wallet_id: str
    tenant_id: str
    reason: DestructionReason
    trigger: Trigger
    started_at: datetime
    status_before: WalletStatus
    balance_minor: int
    forward_journal_id: str | None = None
    burn_tx: str | None = None
    refund_id: str | None = None
    payment_intent_id: str | None = None
    finished_at: datetime | None = None
    verification_hash: str | None = None


@dataclass(frozen=True)
class DestructionLog:
    """The audit record an auditor can check: `record` is canonical JSON and `verification_hash` its
    SHA-256 (shared/destruction/log.py)."""

    wallet_id: str
    record: str
    verification_hash: str


class PaymentInFlight(ConcurrentUpdate):
    """The wallet has a payment in flight: it must land (or be released) before destruction begins."""


class DestructionStore(Protocol):
    def progress_of(self, wallet_id: str) -> DestructionProgress | None: ...

    def begin(
        self,
        before: Wallet,
        after: Wallet,
        progress: DestructionProgress,
        records: list[Record],
        stats: dict[str, int],
    ) -> None:
        """Move the wallet out of the active set into `after.status` and write the progress record, if the
        wallet is still `before` (ConcurrentUpdate) and no payment is in flight (PaymentInFlight)."""
        ...

    def forward(
        self,
        wallet: Wallet,
        journal: Journal,
        progress: DestructionProgress,
        records: list[Record],
    ) -> PostOutcome:
        """Post the remainder's refund journal with the wallet's balance going to zero and the progress."""
        ...

    def finish(
        self,
        wallet: Wallet,
        progress: DestructionProgress,
        log: DestructionLog,
        records: list[Record],
        stats: dict[str, int],
    ) -> bool:
        """In one transaction: erase the keys, delete the lease, write the log, mark the wallet destroyed
        and close the progress. False when another run finished first."""
        ...

    def destruction_log(self, wallet_id: str) -> DestructionLog | None: ...


class InFlightPayments(Protocol):
    def settle_in_flight(self, wallet_id: str) -> bool: ...


class SettleAll:
    """Every money movement destruction must land before it begins: a payment, a merchant's refund."""

    def __init__(self, *settlers: InFlightPayments) -> None:
        self._settlers = settlers

    def settle_in_flight(self, wallet_id: str) -> bool:
        return all([settler.settle_in_flight(wallet_id) for settler in self._settlers])


class FundingClaims(Protocol):
    def claim_of(self, wallet_id: str) -> FundingClaim:
        """The wallet's funding claim: the PaymentIntent a remainder refunds."""
        ...


class PayrollReturns(Protocol):
    """A payroll claim wallet's money back to its treasury before the wallet is destroyed
    (shared/payouts/payroll.py)."""

    def return_unclaimed(self, wallet: Wallet) -> bool: ...


class DestructionMetrics(Protocol):
    def destroyed(self, reason: DestructionReason, trigger: Trigger, delay_seconds: float | None) -> None: ...
