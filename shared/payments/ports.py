"""Ports and records of paying an invoice from its wallet: the per-wallet payment claim and the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.invoice import Invoice
from shared.models.wallet import Wallet
from shared.outbox.records import Record


class PaymentState(StrEnum):
    IN_FLIGHT = "in_flight"
    """Claimed: the transfer may have happened at the provider; only this operation may touch the wallet's
    balance until it commits or is released."""
    DONE = "done"


@dataclass(frozen=True)
class PaymentClaim:
    """The one payment of a wallet in flight (or the last one done).

    The operation id fixes the provider's idempotency key and the journal id, so whoever resumes an
    in-flight payment (a retry, a concurrent caller, or destroy) transfers once and posts once."""

    wallet_id: str
    tenant_id: str
    operation_id: str
    amount_minor: int
    token_amount: int
    token: str
    provider: str
    source: str
    destination: str
    state: PaymentState
    actor: str
    created_at: datetime
    transaction_hash: str | None = None
    sequence: int = 1


@dataclass(frozen=True)
class PaymentCommit:
    """Everything a payment commits with its journal: wallet and invoice as read and as they become, the
    claim's `done` state, audit/outbox records and counter deltas."""

    journal: Journal
    claim: PaymentClaim
    wallet_before: Wallet
    wallet_after: Wallet
    invoice_before: Invoice
    invoice_after: Invoice
    records: list[Record] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


class PaymentClaimHeld(Exception):
    """Another payment of this wallet is in flight with different terms."""

    def __init__(self, holder: PaymentClaim) -> None:
        super().__init__(f"wallet {holder.wallet_id} has payment {holder.operation_id} in flight")
        self.holder = holder


class PaymentStore(Protocol):
    def claim_of(self, wallet_id: str) -> PaymentClaim | None:
        """The wallet's current claim (in flight or the last done), read strongly consistent."""
        ...

    def claim(self, wallet: Wallet, claim: PaymentClaim) -> PaymentClaim:
        """Take the wallet's claim for `claim` while the wallet is still `wallet` (same version, funded,
        unexpired at `claim.created_at`). An in-flight claim with the same amount and destination is
        returned as it is stored (the caller resumes it); different terms raise PaymentClaimHeld; a moved
        wallet raises ConcurrentUpdate."""
        ...

    def release(self, claim: PaymentClaim, records: list[Record]) -> None:
        """Drop an in-flight claim whose transfer the provider refused (nothing moved)."""
        ...

    def commit(self, payment: PaymentCommit) -> PostOutcome:
        """Post the journal with the wallet and invoice updates (conditional on what was read), the claim's
        `done` state, records and counters. ConcurrentUpdate when either moved on; ALREADY_POSTED when this
        operation committed before."""
        ...


class InvoiceReader(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None: ...


class DestroyResult(Protocol):
    @property
    def destroyed(self) -> bool: ...


class WalletDestroyer(Protocol):
    """What paying needs of destruction: run it now for a wallet whose invoice was just paid."""

    def destroy(self, wallet_id: str, trigger: str, paid: Wallet | None = None) -> DestroyResult: ...

    def retry_soon(self, wallet_id: str) -> None:
        """Move the wallet's destruction schedule close, after a destruction that failed half-way."""
        ...
