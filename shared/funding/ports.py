"""Ports and records of wallet funding: the per-wallet funding claim, refund records and the commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from shared.errors import InvalidState
from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.invoice import Invoice
from shared.models.wallet import Wallet
from shared.outbox.records import Record
from shared.providers.port import StablecoinProvider

T = TypeVar("T")


class ClaimState(StrEnum):
    MINTING = "minting"
    REFUNDED = "refunded"
    FUNDED = "funded"


@dataclass(frozen=True)
class FundingClaim:
    """The one funding of a wallet in flight or done: which PaymentIntent, which provider, what it minted.

    `refunds` counts refunded attempts; it makes the Stripe key of a caller without an Idempotency-Key new
    after each refund, and stays the same across retries of one attempt."""

    wallet_id: str
    intent_id: str | None
    provider: str | None
    state: ClaimState | None
    charge_key: str | None = None
    transaction_hash: str | None = None
    refunds: int = 0


class Reversal(StrEnum):
    """Whether the provider must take back a mint the refunded charge may have caused."""

    NONE = "none"
    """The charge never held the claim while minting: nothing was minted for it."""
    PENDING = "pending"
    DONE = "done"
    BLOCKED = "blocked"
    """The provider refused the burn (the tokens left the address): reconciliation shows the gap."""


@dataclass(frozen=True)
class RefundRecord:
    """One refunded charge. Written before anything is undone; the reversal and the refund id follow.

    With a reversal, `provider`, `asset`, `token_amount` and `address` say what the mint keyed by the
    intent was (or would have been), so the undo needs nothing else."""

    wallet_id: str
    intent_id: str
    amount_minor: int
    currency: str
    reason: str
    refund_id: str | None = None
    reversal: Reversal = Reversal.NONE
    provider: str | None = None
    asset: str | None = None
    token_amount: int = 0
    address: str | None = None


@dataclass(frozen=True)
class FundingCommit:
    """Everything one funding commits with its journal: the wallet as read and as it becomes, the claim's
    final state, the audit/outbox records and the counter deltas."""

    journal: Journal
    before: Wallet
    after: Wallet
    claim: FundingClaim
    records: list[Record] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


class ClaimHeld(Exception):
    """Another PaymentIntent holds the wallet's funding claim (minting or funded)."""

    def __init__(self, holder: FundingClaim) -> None:
        super().__init__(f"wallet {holder.wallet_id} is being funded by {holder.intent_id}")
        self.holder = holder


class ChargeRefunded(Exception):
    """The charge has a refund record: it may never hold the claim or fund the wallet again."""

    def __init__(self, record: RefundRecord) -> None:
        super().__init__(f"payment {record.intent_id} of wallet {record.wallet_id} was refunded")
        self.record = record


class InvoiceUnpayable(InvalidState):
    """The wallet's invoice is not payable (void, paid, deleted...): the wallet may not take money for it."""


class FundingStore(Protocol):
    def claim_of(self, wallet_id: str) -> FundingClaim:
        """The wallet's claim (a claim with no intent when it was never funded), read strongly consistent."""
        ...

    def claim(
        self, wallet: Wallet, intent_id: str, provider: str, charge_key: str, now: datetime
    ) -> FundingClaim:
        """Take the claim for `intent_id` unless another intent is minting or funded (ClaimHeld). Claiming
        again for the same intent returns the stored claim (its provider wins over `provider`). In the same
        transaction: no refund record may exist for `intent_id` (ChargeRefunded) and the wallet's invoice,
        if it has one, must be payable (InvoiceUnpayable); either refusal writes nothing."""
        ...

    def refund_of(self, wallet_id: str, intent_id: str) -> RefundRecord | None: ...

    def record_refund(
        self, wallet: Wallet, record: RefundRecord, now: datetime, records: Sequence[Record]
    ) -> None:
        """Write the refund record and `records` (its audit entry), count the refund on the claim and
        release the claim when `intent_id` held it; recording the same refund twice changes nothing. When
        `intent_id` funded the wallet meanwhile, nothing is written and it raises ConcurrentUpdate."""
        ...

    def refund_issued(self, wallet_id: str, intent_id: str, refund_id: str) -> None: ...

    def payment_processing(self, wallet: Wallet, intent_id: str, now: datetime) -> None:
        """Remember a bank payment that answered `processing` (an open claim the sweeper settles once it
        succeeds or fails); remembering it twice changes nothing."""
        ...

    def reversal_settled(self, wallet_id: str, intent_id: str, reversal: Reversal) -> None:
        """Mark the record's reversal done or blocked."""
        ...

    def commit(self, funding: FundingCommit) -> PostOutcome:
        """Post the journal with the wallet update (conditional on the version, status `active` and an
        unexpired countdown), the claim's `funded` state, records and counters, conditional also on no
        refund record for the intent and on the wallet's invoice being payable. ConcurrentUpdate when any
        of these moved on; ALREADY_POSTED when this journal committed before (with everything else)."""
        ...


class WalletReader(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


class InvoiceReader(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The invoice (soft-deleted ones included, with deleted_at set), or None."""
        ...


class ProviderGateway(Protocol):
    """The one way money services reach the stablecoin providers (providers.service.ProviderRouter):
    choose a provider for new money, or call one by name through its circuit breaker."""

    def knows(self, name: str | None) -> bool:
        """Whether `name` is a provider this process is configured for."""
        ...

    def choose_provider(self, preference: str | None = None) -> StablecoinProvider: ...

    def call(self, name: str, operation: Callable[[StablecoinProvider], T]) -> T:
        """Run `operation` on the provider `name` (KeyError if unknown) if its breaker admits it."""
        ...


class RefundState(StrEnum):
    IN_FLIGHT = "in_flight"
    """Begun: the burn and the Stripe refund may have happened; nothing else may move the wallet's money."""
    DONE = "done"


@dataclass(frozen=True)
class WalletRefund:
    """The merchant's refund of what a wallet holds to the PaymentIntent that funded it (`WALLET#{id}`/
    `REFUND`). The intent fixes every key (burn, Stripe refund, journal), so a retry does each once."""

    wallet_id: str
    tenant_id: str
    intent_id: str
    amount_minor: int
    currency: str
    state: RefundState
    actor: str
    created_at: datetime
    refund_id: str | None = None
    burn_tx: str | None = None


class WalletRefundHeld(Exception):
    """A refund of the wallet is already in flight (it is resumed rather than started again)."""

    def __init__(self, holder: WalletRefund) -> None:
        super().__init__(f"wallet {holder.wallet_id} has a refund in flight")
        self.holder = holder


class WalletRefundStore(Protocol):
    def refund_claim_of(self, wallet_id: str) -> WalletRefund | None:
        """The wallet's refund in flight, or the last one done; strongly consistent."""
        ...

    def begin(self, wallet: Wallet, refund: WalletRefund) -> None:
        """Take the wallet's refund claim while the wallet is still as read (funded, unexpired, same
        version and balance), its funding claim is `funded` by `refund.intent_id` and no payment is in
        flight. WalletRefundHeld when a refund is in flight; ConcurrentUpdate when anything else moved."""
        ...

    def commit(
        self,
        wallet: Wallet,
        after: Wallet,
        refund: WalletRefund,
        journal: Journal,
        records: list[Record],
        stats: dict[str, int],
    ) -> PostOutcome:
        """Post the refund journal with the wallet's balance to zero (status back to `active`), the claim
        `done`, the funding claim released (its intent recorded as refunded, so it never funds again),
        records and counters. ALREADY_POSTED when this refund committed before."""
        ...
