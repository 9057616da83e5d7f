"""In-memory ports of funding: a Stripe-like processor (idempotent by key) and a store on the ledger fake."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.cards.ports import PaymentDeclined, PaymentResult, RefundResult
from shared.errors import ConcurrentUpdate, IdempotencyKeyReuse
from shared.funding.ports import (
    ChargeRefunded,
    ClaimHeld,
    ClaimState,
    FundingClaim,
    FundingCommit,
    InvoiceUnpayable,
    RefundRecord,
    Reversal,
)
from shared.ledger.ports import PostOutcome
from shared.models.invoice import FUNDABLE, Invoice, InvoiceStatus
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record
from shared.providers.errors import INSUFFICIENT_FUNDS, ProviderRejected
from shared.providers.models import Asset, ProviderTx
from tests.support.events import as_items
from tests.unit.ledger.fakes import InMemoryLedger
from tests.unit.providers.fakes import ScriptedProvider


class Crash(Exception):
    """The process dies here: nothing after this point runs in this attempt."""


@dataclass
class CrashPoints:
    """Named places where the next pass raises Crash, once each: `arm("after_burn")`."""

    armed: set[str] = field(default_factory=set)
    passed: list[str] = field(default_factory=list)

    def arm(self, name: str) -> None:
        self.armed.add(name)

    def reach(self, name: str) -> None:
        self.passed.append(name)
        if name in self.armed:
            self.armed.discard(name)
            raise Crash(f"died at {name}")


@dataclass
class KeyedProvider(ScriptedProvider):
    """A provider that keeps balances and supply and honours idempotency keys, as the stand-ins do: a
    key sent again replays the first outcome. `crashes` fire after the operation took effect."""

    supply: dict[str, int] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    done: dict[str, ProviderTx] = field(default_factory=dict)
    burned: list[str] = field(default_factory=list)
    crashes: CrashPoints = field(default_factory=CrashPoints)

    def mint(self, asset: Asset, amount_minor: int, to_address: str, idempotency_key: str) -> ProviderTx:
        if idempotency_key in self.done:
            return self.done[idempotency_key]
        if self.failures:
            raise self.failures.pop(0)
        self.minted.append(idempotency_key)
        self._move(asset, to_address, amount_minor)
        tx = ProviderTx(self.provider_name, "tx1", "0xabc", "confirmed", asset, amount_minor, idempotency_key)
        self.done[idempotency_key] = tx
        self.crashes.reach(f"{self.provider_name}:mint")
        return tx

    def burn(self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str) -> ProviderTx:
        if idempotency_key in self.done:
            return self.done[idempotency_key]
        if self.failures:
            raise self.failures.pop(0)
        if self.balances.get((from_address, asset.value), 0) < amount_minor:
            raise ProviderRejected(self.provider_name, INSUFFICIENT_FUNDS, "not enough tokens", 400)
        self.burned.append(idempotency_key)
        self._move(asset, from_address, -amount_minor)
        tx = ProviderTx(self.provider_name, "tx2", "0xdef", "confirmed", asset, amount_minor, idempotency_key)
        self.done[idempotency_key] = tx
        self.crashes.reach(f"{self.provider_name}:burn")
        return tx

    def balance(self, asset: Asset, address: str) -> int:
        return self.balances.get((address, asset.value), 0)

    def total_supply(self, asset: Asset) -> int:
        return self.supply.get(asset.value, 0)

    def _move(self, asset: Asset, address: str, amount: int) -> None:
        self.supply[asset.value] = self.supply.get(asset.value, 0) + amount
        key = (address, asset.value)
        self.balances[key] = self.balances.get(key, 0) + amount


@dataclass
class FakePayments:
    """PaymentIntents keyed by idempotency key, as Stripe keeps them: the same key returns the same intent."""

    intents: dict[str, PaymentResult] = field(default_factory=dict)
    charge_calls: int = 0
    charge_keys: list[str] = field(default_factory=list)
    declined: dict[str, str] = field(default_factory=dict)
    before_charge: Callable[[], None] | None = None
    refunds: dict[str, RefundResult] = field(default_factory=dict)
    crash_after_charge: bool = False
    crashes: CrashPoints = field(default_factory=CrashPoints)

    def charge(
        self,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> PaymentResult:
        self.charge_calls += 1
        self.charge_keys.append(idempotency_key)
        if self.before_charge is not None:
            self.before_charge()
        declined_with = self.declined.get(idempotency_key)
        if declined_with is not None:
            # Stripe keeps a key bound to its first request for 24 hours, declined or not.
            if declined_with != payment_method:
                raise IdempotencyKeyReuse("keys for idempotent requests need the same parameters")
            raise PaymentDeclined("Your card was declined.", "generic_decline", "pi_declined")
        if idempotency_key not in self.intents:
            intent_id = f"pi_{len(self.intents) + 1}"
            if payment_method == "pm_card_chargeDeclined":
                self.declined[idempotency_key] = payment_method
                raise PaymentDeclined("Your card was declined.", "generic_decline", intent_id)
            status = "processing" if payment_method == "pm_usBankAccount" else "succeeded"
            received = amount_minor if status == "succeeded" else 0
            self.intents[idempotency_key] = PaymentResult(
                intent_id, status, amount_minor, received, currency.lower(), "ch_1", metadata=metadata
            )
        if self.crash_after_charge:
            self.crash_after_charge = False
            raise Crash("died after the charge")
        return self.intents[idempotency_key]

    @property
    def charged(self) -> list[PaymentResult]:
        return [i for i in self.intents.values() if i.status == "succeeded"]

    def retrieve(self, intent_id: str) -> PaymentResult:
        return next(i for i in self.intents.values() if i.intent_id == intent_id)

    def refund(
        self, intent_id: str, amount_minor: int, idempotency_key: str, reason: str | None = None
    ) -> RefundResult:
        if idempotency_key not in self.refunds:
            self.refunds[idempotency_key] = RefundResult(
                f"re_{len(self.refunds) + 1}", intent_id, amount_minor, "usd", "succeeded"
            )
        self.crashes.reach("refund")
        return self.refunds[idempotency_key]

    def refunded(self, intent_id: str) -> int:
        return sum(r.amount_minor for r in self.refunds.values() if r.intent_id == intent_id)


@dataclass
class MemoryFundingStore:
    """FundingStore and WalletReader in memory; the commit runs inside the ledger fake's transaction."""

    wallets: dict[str, Wallet] = field(default_factory=dict)
    claims: dict[str, FundingClaim] = field(default_factory=dict)
    refund_records: dict[tuple[str, str], RefundRecord] = field(default_factory=dict)
    processing: dict[tuple[str, str], datetime] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    before_commit: Callable[[], None] | None = None
    crashes: CrashPoints = field(default_factory=CrashPoints)
    # The status of each wallet's invoice by invoice id; an invoice not listed is `sent`.
    invoice_statuses: dict[str, InvoiceStatus] = field(default_factory=dict)

    def invoice_status(self, invoice_id: str) -> InvoiceStatus:
        return self.invoice_statuses.get(invoice_id, InvoiceStatus.SENT)

    def _invoice_payable(self, wallet: Wallet) -> bool:
        return wallet.invoice_id is None or self.invoice_status(wallet.invoice_id) in FUNDABLE

    def get(self, wallet_id: str) -> Wallet | None:
        return self.wallets.get(wallet_id)

    def claim_of(self, wallet_id: str) -> FundingClaim:
        return self.claims.get(wallet_id) or FundingClaim(wallet_id, None, None, None)

    def claim(
        self, wallet: Wallet, intent_id: str, provider: str, charge_key: str, now: datetime
    ) -> FundingClaim:
        refunded = self.refund_of(wallet.wallet_id, intent_id)
        if refunded is not None:
            raise ChargeRefunded(refunded)
        if not self._invoice_payable(wallet):
            raise InvoiceUnpayable("the wallet's invoice is not payable")
        stored = self.claim_of(wallet.wallet_id)
        if stored.intent_id == intent_id and stored.state is not ClaimState.REFUNDED:
            return stored
        if stored.state not in (None, ClaimState.REFUNDED):
            raise ClaimHeld(stored)
        claimed = FundingClaim(
            wallet.wallet_id, intent_id, provider, ClaimState.MINTING, charge_key, None, stored.refunds
        )
        self.claims[wallet.wallet_id] = claimed
        return claimed

    def refund_of(self, wallet_id: str, intent_id: str) -> RefundRecord | None:
        return self.refund_records.get((wallet_id, intent_id))

    def record_refund(
        self, wallet: Wallet, record: RefundRecord, now: datetime, records: Sequence[Record]
    ) -> None:
        key = (wallet.wallet_id, record.intent_id)
        if key in self.refund_records:
            return
        stored = self.claim_of(wallet.wallet_id)
        if stored.intent_id == record.intent_id and stored.state is ClaimState.FUNDED:
            raise ConcurrentUpdate("the charge funded the wallet")
        self.refund_records[key] = record
        state = stored.state
        if stored.intent_id == record.intent_id and stored.state is ClaimState.MINTING:
            state = ClaimState.REFUNDED
        self.claims[wallet.wallet_id] = replace(stored, state=state, refunds=stored.refunds + 1)
        self.records.extend(as_items(records))
        self.crashes.reach("recorded")

    def refund_issued(self, wallet_id: str, intent_id: str, refund_id: str) -> None:
        key = (wallet_id, intent_id)
        self.refund_records[key] = replace(self.refund_records[key], refund_id=refund_id)

    def payment_processing(self, wallet: Wallet, intent_id: str, now: datetime) -> None:
        self.processing.setdefault((wallet.wallet_id, intent_id), now)

    def reversal_settled(self, wallet_id: str, intent_id: str, reversal: Reversal) -> None:
        key = (wallet_id, intent_id)
        self.refund_records[key] = replace(self.refund_records[key], reversal=reversal)
        self.crashes.reach("reversed")

    def commit(self, funding: FundingCommit) -> PostOutcome:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None
            hook()

        def apply() -> None:
            before = funding.before
            stored = self.wallets[before.wallet_id]
            expired = before.expires_at is not None and before.expires_at <= funding.after.updated_at
            if stored.version != before.version or stored.status is not WalletStatus.ACTIVE or expired:
                raise ConcurrentUpdate("the wallet moved on")
            claim = self.claim_of(before.wallet_id)
            if claim.intent_id != funding.claim.intent_id or claim.state is not ClaimState.MINTING:
                raise ConcurrentUpdate("the claim moved on")
            if self.refund_of(before.wallet_id, claim.intent_id or "") is not None:
                raise ConcurrentUpdate("the charge was refunded")
            if not self._invoice_payable(stored):
                raise ConcurrentUpdate("the invoice is not payable any more")
            self.wallets[before.wallet_id] = funding.after
            self.claims[before.wallet_id] = funding.claim
            self.records.extend(as_items(funding.records))
            for name, delta in funding.stats.items():
                self.stats[name] = self.stats.get(name, 0) + delta

        return self.ledger.post(funding.journal, also=[apply])


@dataclass
class MemoryInvoices:
    """The InvoiceReader funding uses, over the store's invoice statuses."""

    store: MemoryFundingStore

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return Invoice(
            id=invoice_id,
            number="INV-00001",
            tenant_id=tenant_id,
            customer_id="cus_alice",
            currency="USD",
            status=self.store.invoice_status(invoice_id),
            line_items=[],
            subtotal=Decimal("251.00"),
            tax_amount=Decimal(0),
            total_amount=Decimal("251.00"),
            due_date=date(2030, 2, 1),
            created_by="merchant-1",
            created_at=datetime(2030, 1, 1),
            updated_at=datetime(2030, 1, 1),
        )
