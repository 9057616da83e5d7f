"""Paying an invoice from its wallet: tokens to the merchant's settlement through the provider, the ledger
journal, the invoice and the wallet in one commit. Destroying an ephemeral wallet once its invoice is paid is
the `PayInvoice` use case's (shared/payments/pay_invoice.py), above this service and destruction.

Order and keys make every step safe to repeat and to race:
- a per-wallet claim is taken before the transfer, conditional on the wallet as read (funded, unexpired,
  same version). It fixes the operation id, hence the provider's idempotency key and the journal id, so a
  retry, a concurrent caller or destroy resumes the same transfer instead of making another;
- the commit is conditional on the claim still being in flight and on the wallet's and invoice's versions
  as read: twenty concurrent pays transfer once and post once; the losers see `already_posted` or a paid
  invoice;
- destruction refuses to begin while a claim is in flight and settles it first (`settle_in_flight`), so a
  transfer that happened is never left out of the ledger and a refund never counts money already paid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger

from shared.auth import ADMIN, CONSUMER, MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.errors import (
    ConcurrentUpdate,
    Conflict,
    InsufficientBalance,
    InvalidState,
    NotFound,
    ValidationFailed,
    WalletsError,
)
from shared.funding.ports import ProviderGateway, WalletReader
from shared.funding.service import FUNDING_TOKENS
from shared.ids import is_wallet_id
from shared.ledger.assets import fiat_to_token
from shared.ledger.movements import payment
from shared.ledger.ports import PostOutcome
from shared.models.invoice import Invoice, InvoiceStatus
from shared.models.wallet import FINISHED, Wallet, WalletStatus, to_minor
from shared.money import format_amount, format_minor, from_minor, minor_units
from shared.outbox.records import Record, Resource, audit_entry, domain_event
from shared.payments.ports import (
    InvoiceReader,
    PaymentClaim,
    PaymentClaimHeld,
    PaymentCommit,
    PaymentState,
    PaymentStore,
)
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset
from shared.wallets.service import may_act_on
from shared.wallets.stats import status_change_deltas

logger = Logger(child=True)

PAYABLE = frozenset(
    {InvoiceStatus.DRAFT, InvoiceStatus.SENT, InvoiceStatus.OVERDUE, InvoiceStatus.PARTIALLY_PAID}
)
_COMMIT_ATTEMPTS = 4


def operation_id(wallet_id: str, sequence: int) -> str:
    """The n-th payment of a wallet: its provider key is `pay-{id}` and its journal `jrn_pay_...`."""
    return f"{wallet_id}-p{sequence}"


def settlement_label(tenant_id: str) -> str:
    return f"settlement-{tenant_id}"


@dataclass(frozen=True)
class PaymentOutcome:
    """A committed payment: the wallet and invoice as the commit left them (or as a concurrent caller's
    commit of the same claim did), and the claim that moved the tokens. `wallet_status` is the wallet's
    status after what followed the commit (its destruction), when that differs from `wallet.status`."""

    wallet: Wallet
    invoice: Invoice
    claim: PaymentClaim
    wallet_status: WalletStatus | None = None

    @property
    def status(self) -> WalletStatus:
        return self.wallet_status or self.wallet.status

    @property
    def destroyed(self) -> bool:
        return self.status is WalletStatus.DESTROYED

    def to_api(self) -> dict[str, Any]:
        wallet, invoice, claim = self.wallet, self.invoice, self.claim
        places = minor_units(wallet.currency)
        return {
            "wallet_id": wallet.wallet_id,
            "invoice_id": invoice.id,
            "invoice_status": invoice.status.value,
            "amount": format_minor(claim.amount_minor, wallet.currency),
            "amount_paid": format_amount(invoice.amount_paid, places),
            "amount_due": format_amount(invoice.amount_due, places),
            "currency": wallet.currency,
            "transaction_hash": claim.transaction_hash,
            "provider": claim.provider,
            "wallet_status": self.status.value,
            "wallet_balance": format_amount(wallet.balance, places),
        }


class SettlementAddresses:
    """The tenant's settlement address at a provider, asked once per process: the provider answers the
    same address for the same label, so the cache only saves calls."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def address(self, router: ProviderGateway, provider: str, tenant_id: str) -> str:
        key = (provider, tenant_id)
        if key not in self._known:
            self._known[key] = router.call(provider, lambda p: p.create_address(settlement_label(tenant_id)))
        return self._known[key]


class PaymentService:
    def __init__(
        self,
        wallets: WalletReader,
        invoices: InvoiceReader,
        store: PaymentStore,
        router: ProviderGateway,
        clock: Clock,
        settlements: SettlementAddresses | None = None,
    ) -> None:
        self._wallets = wallets
        self._invoices = invoices
        self._store = store
        self._router = router
        self._clock = clock
        self._settlements = settlements or SettlementAddresses()

    # -- the API -------------------------------------------------------------------------------------
    def pay(self, principal: Principal, wallet_id: str, amount: Decimal | None) -> PaymentOutcome:
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or not may_act_on(principal, wallet):
            raise NotFound("wallet not found")
        now = self._clock.now()
        invoice = self._invoice_of(wallet)
        held = self._store.claim_of(wallet.wallet_id)
        if held is not None and held.state is PaymentState.IN_FLIGHT:
            # A payment of this wallet was interrupted (or is running right now): finish that one first.
            # The same terms are this request's own retry; other terms must wait for it.
            requested = self._amount_minor(wallet, invoice, amount) if amount is not None else None
            if requested is not None and requested != held.amount_minor:
                raise Conflict("another payment of this wallet is in progress; retry when it is done")
            return self._finish(held)
        self._payable(wallet, invoice, now)
        amount_minor = self._amount_minor(wallet, invoice, amount)
        wallet_minor = to_minor(wallet.balance, wallet.currency)
        if amount_minor > wallet_minor:
            raise InsufficientBalance(
                "the wallet holds less than the payment",
                [
                    {
                        "field": "amount",
                        "message": f"balance {format_amount(wallet.balance, minor_units(wallet.currency))}",
                    }
                ],
            )
        asset = self._asset_of(wallet)
        if wallet.provider is None or not self._router.knows(wallet.provider):
            raise InvalidState("the wallet's tokens are at no provider we know")
        destination = invoice.enterprise_wallet_address or self._settlements.address(
            self._router, wallet.provider, wallet.tenant_id
        )
        sequence = held.sequence + 1 if held is not None else 1
        wanted = PaymentClaim(
            wallet_id=wallet.wallet_id,
            tenant_id=wallet.tenant_id,
            operation_id=operation_id(wallet.wallet_id, sequence),
            amount_minor=amount_minor,
            token_amount=fiat_to_token(amount_minor, wallet.currency, asset.value),
            token=asset.value,
            provider=wallet.provider,
            source=wallet.evm_address,
            destination=destination,
            state=PaymentState.IN_FLIGHT,
            actor=principal.sub,
            created_at=now,
            sequence=sequence,
        )
        try:
            claim = self._store.claim(wallet, wanted)
        except PaymentClaimHeld as exc:
            if exc.holder.amount_minor != amount_minor or exc.holder.destination != destination:
                raise Conflict(
                    "another payment of this wallet is in progress; retry when it is done"
                ) from exc
            claim = exc.holder
        except ConcurrentUpdate:
            # The wallet moved since we read it: another pay committed, or it was funded, expired or
            # transformed. Whichever it was, the caller sees it on a fresh read.
            reread = self._wallets.get(wallet.wallet_id)
            if reread is not None:
                self._payable(reread, self._invoice_of(reread), self._clock.now())
            raise Conflict("the wallet changed while the payment started; retry") from None
        # Our own fresh claim was taken on exactly this wallet and invoice: the commit need not read them.
        known = (wallet, invoice) if claim is wanted else None
        return self._finish(claim, known=known)

    def settle_in_flight(self, wallet_id: str) -> bool:
        """Finish (or release) the wallet's in-flight payment, for destruction; True when none is left."""
        held = self._store.claim_of(wallet_id)
        if held is None or held.state is PaymentState.DONE:
            return True
        if not self._invoice_takes_payment(wallet_id):
            # Never replay a transfer to a void or deleted invoice (void and delete refuse while a payment
            # is in flight, so only older data gets here): release the claim and let destruction go on.
            self._release(held, InvalidState("the wallet's invoice is void or deleted"))
            return True
        try:
            self._finish(held)
        except InvalidState:
            # The provider refused the transfer and the claim was released: nothing moved, nothing to
            # land. Anything else that left it in flight is for the caller's retry.
            stored = self._store.claim_of(wallet_id)
            if stored is not None and stored.state is PaymentState.IN_FLIGHT:
                raise
        return True

    # -- steps ---------------------------------------------------------------------------------------
    def _finish(self, claim: PaymentClaim, known: tuple[Wallet, Invoice] | None = None) -> PaymentOutcome:
        try:
            tx = self._router.call(
                claim.provider,
                lambda p: p.transfer(
                    Asset(claim.token),
                    claim.token_amount,
                    claim.source,
                    claim.destination,
                    f"pay-{claim.operation_id}",
                ),
            )
        except ProviderRejected as refused:
            # The provider refused the transfer outright (nothing moved): free the wallet for another try.
            self._release(claim, refused)
            raise InvalidState(f"the provider refused the payment: {refused.message}") from refused
        done = replace(claim, state=PaymentState.DONE, transaction_hash=tx.tx_hash or tx.tx_id)
        wallet, invoice = self._commit(done, known)
        return PaymentOutcome(wallet, invoice, done)

    def _commit(self, claim: PaymentClaim, known: tuple[Wallet, Invoice] | None) -> tuple[Wallet, Invoice]:
        for _ in range(_COMMIT_ATTEMPTS):
            if known is not None:
                # First attempt of a claim we just took: nothing can have moved but what the commit's
                # conditions catch (a lost condition reads everything again below).
                first = self._build_commit(claim, *known)
                known = None
                try:
                    if self._store.commit(first) is PostOutcome.POSTED:
                        return first.wallet_after, first.invoice_after
                except ConcurrentUpdate:
                    pass
                continue
            # The claim first: when it reads `done`, the wallet and invoice read after it show that commit.
            stored = self._store.claim_of(claim.wallet_id)
            if stored is None or stored.operation_id != claim.operation_id:
                raise ConcurrentUpdate("the payment claim changed under us; retry")
            wallet = self._wallets.get(claim.wallet_id)
            if wallet is None:
                raise NotFound("wallet not found")
            invoice = self._invoice_of(wallet)
            if stored.state is PaymentState.DONE:
                # A concurrent caller (or our own earlier attempt) committed this very payment.
                return wallet, invoice
            commit = self._build_commit(claim, wallet, invoice)
            try:
                outcome = self._store.commit(commit)
            except ConcurrentUpdate:
                continue
            if outcome is PostOutcome.ALREADY_POSTED:
                continue
            return commit.wallet_after, commit.invoice_after
        raise ConcurrentUpdate("the wallet changed while it was being paid from; retry")

    def _build_commit(self, claim: PaymentClaim, wallet: Wallet, invoice: Invoice) -> PaymentCommit:
        places = minor_units(wallet.currency)
        amount = from_minor(claim.amount_minor, wallet.currency)
        paid_total = invoice.amount_paid + amount
        fully_paid = paid_total >= invoice.total_amount
        invoice_status = InvoiceStatus.PAID if fully_paid else InvoiceStatus.PARTIALLY_PAID
        wallet_status = WalletStatus.PAYMENT_COMPLETE if fully_paid else WalletStatus.FUNDED
        now = self._clock.now()
        journal = payment(
            operation_id=claim.operation_id,
            wallet_id=wallet.wallet_id,
            tenant_id=wallet.tenant_id,
            token=claim.token,
            amount=claim.token_amount,
            created_at=claim.created_at,
            invoice_id=invoice.id,
            destination=claim.destination,
            provider=claim.provider,
            transaction_hash=claim.transaction_hash or "",
        )
        wallet_after = wallet.model_copy(
            update={
                "balance": wallet.balance - amount,
                "status": wallet_status,
                "updated_at": now,
                "version": wallet.version + 1,
                "journal_ids": [*wallet.journal_ids, journal.id],
            }
        )
        invoice_after = invoice.model_copy(
            update={"amount_paid": paid_total, "status": invoice_status, "updated_at": now}
        )
        data = {
            "tenant_id": wallet.tenant_id,
            "wallet_id": wallet.wallet_id,
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "amount": format_amount(amount, places),
            "currency": wallet.currency,
            "amount_paid": format_amount(paid_total, places),
            "amount_due": format_amount(invoice.total_amount - paid_total, places),
            "invoice_status": invoice_status.value,
            "wallet_status": wallet_status.value,
            "transaction_hash": claim.transaction_hash,
            "provider": claim.provider,
        }
        channels = [f"wallet:{wallet.wallet_id}", f"invoice:{invoice.id}", "admin"]
        records: list[Record] = [
            audit_entry(
                wallet.wallet_id,
                "wallet.paid",
                claim.actor,
                wallet.tenant_id,
                now,
                {
                    "status": {"from": wallet.status.value, "to": wallet_status.value},
                    "amount": data["amount"],
                    "operation_id": claim.operation_id,
                    "transaction_hash": claim.transaction_hash,
                },
            ),
            audit_entry(
                invoice.id,
                "invoice.paid" if fully_paid else "invoice.partially_paid",
                claim.actor,
                wallet.tenant_id,
                now,
                {
                    "status": {"from": invoice.status.value, "to": invoice_status.value},
                    "paid": data["amount"],
                },
            ),
        ]
        if fully_paid:
            records.append(
                domain_event(
                    "payment:complete", channels, data, now, resource=Resource("wallet", wallet.wallet_id)
                )
            )
            records.append(
                domain_event("invoice.paid", channels, data, now, resource=Resource("invoice", invoice.id))
            )
        stats = (
            status_change_deltas(wallet.status, wallet_status) if wallet_status is not wallet.status else {}
        )
        return PaymentCommit(journal, claim, wallet, wallet_after, invoice, invoice_after, records, stats)

    def _release(self, claim: PaymentClaim, refused: WalletsError) -> None:
        now = self._clock.now()
        record = audit_entry(
            claim.wallet_id,
            "wallet.payment_refused",
            claim.actor,
            claim.tenant_id,
            now,
            {"operation_id": claim.operation_id, "reason": refused.message},
        )
        try:
            self._store.release(claim, [record])
        except ConcurrentUpdate:
            logger.warning("payment claim moved before its release", extra={"operation": claim.operation_id})

    # -- checks and reads ----------------------------------------------------------------------------
    def _invoice_takes_payment(self, wallet_id: str) -> bool:
        wallet = self._wallets.get(wallet_id)
        if wallet is None or wallet.invoice_id is None:
            return True
        invoice = self._invoices.get(wallet.tenant_id, wallet.invoice_id)
        return invoice is not None and invoice.deleted_at is None and invoice.status is not InvoiceStatus.VOID

    def _invoice_of(self, wallet: Wallet) -> Invoice:
        if wallet.invoice_id is None:
            raise InvalidState("this wallet pays no invoice")
        invoice = self._invoices.get(wallet.tenant_id, wallet.invoice_id)
        if invoice is None or invoice.deleted_at is not None:
            raise InvalidState("the wallet's invoice no longer exists")
        return invoice

    @staticmethod
    def _payable(wallet: Wallet, invoice: Invoice, now: datetime) -> None:
        if invoice.status is InvoiceStatus.PAID or wallet.status is WalletStatus.PAYMENT_COMPLETE:
            raise InvalidState("the invoice is already paid")
        if wallet.status in FINISHED or wallet.is_expired(now):
            raise InvalidState(f"a wallet that is {wallet.status_at(now).value} cannot pay")
        if invoice.status not in PAYABLE:
            raise InvalidState(f"an invoice that is {invoice.status.value} cannot be paid")
        if wallet.status is not WalletStatus.FUNDED:
            raise InsufficientBalance("the wallet is not funded yet")

    @staticmethod
    def _amount_minor(wallet: Wallet, invoice: Invoice, amount: Decimal | None) -> int:
        due = invoice.amount_due
        wanted = due if amount is None else amount
        if wanted <= 0:
            raise ValidationFailed(
                "amount must be positive", [{"field": "amount", "message": "not positive"}]
            )
        if wanted > due:
            raise ValidationFailed(
                "amount is more than the invoice's amount due",
                [
                    {
                        "field": "amount",
                        "message": f"amount due is {format_amount(due, minor_units(invoice.currency))}",
                    }
                ],
            )
        try:
            return to_minor(wanted, wallet.currency)
        except ValueError as exc:
            raise ValidationFailed(str(exc), [{"field": "amount", "message": str(exc)}]) from exc

    @staticmethod
    def _asset_of(wallet: Wallet) -> Asset:
        asset = FUNDING_TOKENS.get(wallet.currency)
        if asset is None:
            raise InvalidState(f"wallets in {wallet.currency} cannot pay")
        return asset
