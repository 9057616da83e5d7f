"""Funding a wallet by card or bank: charge through the payment processor, mint the same value as
stablecoins at a healthy provider, and post the ledger journal with the wallet's new state in one go.

Order and keys make every step safe to repeat:
- the provider is chosen before anything is charged, so "no provider" never charges;
- the Stripe key is derived from the wallet and the caller's Idempotency-Key, so a retried request finds
  the same PaymentIntent instead of charging again; without one every call is a new attempt with a new
  key (a declined card must not bind the wallet's key to it for Stripe's 24 hours), and a call while
  another attempt holds the claim is refused before anything is charged;
- a per-wallet claim names the PaymentIntent and provider before the mint (keyed by the PaymentIntent),
  so a retry after a crash mints at the same provider with the same key, and two requests with different
  keys cannot both fund one wallet (the loser is refunded before anything is minted for it);
- the journal's id is the PaymentIntent's, so the request, its retries and the webhook post it once;
- a charge that will not fund the wallet (the mint failed, or the wallet ended while it was minted) is
  undone by shared/funding/refunds.py: the refund record first, then the provider takes back any
  mint the charge may have caused, then the refund at Stripe; a crash in between is finished by the
  retry, which sees the record (or the claim it left minting) and never mints for that charge again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.auth import ADMIN, CONSUMER, MERCHANT, Principal, require_role
from shared.cards.ports import PaymentProcessor, PaymentResult
from shared.clock import Clock
from shared.errors import (
    ConcurrentUpdate,
    Conflict,
    InvalidState,
    NotFound,
    PaymentFailed,
    ProviderUnavailable,
    WalletsError,
)
from shared.funding.ports import (
    ChargeRefunded,
    ClaimHeld,
    ClaimState,
    FundingClaim,
    FundingCommit,
    FundingStore,
    InvoiceReader,
    InvoiceUnpayable,
    ProviderGateway,
    RefundRecord,
    Reversal,
    WalletReader,
)
from shared.funding.refunds import (
    FUNDING_TOKENS,
    FundedMeanwhile,
    FundingRefunds,
    ReversalPending,
    mint_key,
    refund_key,
    unmint_key,
)
from shared.ids import is_wallet_id, new_id
from shared.ledger.assets import fiat_to_token
from shared.ledger.movements import funding
from shared.ledger.ports import PostOutcome
from shared.models.invoice import FUNDABLE
from shared.models.wallet import FINISHED, Wallet, WalletStatus, to_minor
from shared.money import format_amount, format_minor, from_minor, minor_units
from shared.outbox.records import Record, Resource, audit_entry, domain_event
from shared.providers.models import Asset
from shared.providers.port import StablecoinProvider
from shared.wallets.service import may_act_on
from shared.wallets.stats import status_change_deltas

__all__ = ["FUNDING_TOKENS", "FundingService", "charge_key", "mint_key", "refund_key", "unmint_key"]

_COMMIT_ATTEMPTS = 3
# The actor of what the Stripe webhook does (audit items).
WEBHOOK_ACTOR = "stripe-webhook"
# The actor of what the sweeper finishes or reverses (audit items).
SWEEPER_ACTOR = "claim-sweeper"
# PaymentIntent states in which a bank payment may still succeed.
STILL_PROCESSING = frozenset({"processing", "requires_action", "requires_confirmation"})


def charge_key(wallet_id: str, principal: Principal, request_key: str | None) -> str:
    """The Stripe idempotency key of one funding attempt. With the caller's Idempotency-Key it is fixed for
    that key (scoped to the caller, as the key is), so retries meet the same PaymentIntent; without one it
    is new on every call: Stripe binds a key to its first request's parameters for 24 hours, so a shared
    key would leave a declined card's attempt blocking every other card of the wallet."""
    if request_key is None:
        return f"fund-{wallet_id}-{new_id('att')}"
    scoped = f"{principal.tenant_id}\x1f{principal.sub}\x1f{request_key}".encode()
    return f"fund-{wallet_id}-{hashlib.sha256(scoped).hexdigest()[:40]}"


@dataclass(frozen=True)
class FundingOutcome:
    status_code: int
    data: dict[str, Any]


class _Unfundable(Exception):
    """The minted charge cannot be committed: `reason` says why (the wallet ended, or it was refunded)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FundingService:
    def __init__(
        self,
        wallets: WalletReader,
        store: FundingStore,
        payments: PaymentProcessor,
        router: ProviderGateway,
        clock: Clock,
        *,
        invoices: InvoiceReader,
    ) -> None:
        self._wallets = wallets
        self._invoices = invoices
        self._store = store
        self._payments = payments
        self._router = router
        self._clock = clock
        self._refunds = FundingRefunds(store, payments, router)

    def fund(
        self,
        principal: Principal,
        wallet_id: str,
        payment_method: str,
        request_key: str | None,
        preference: str | None = None,
    ) -> FundingOutcome:
        """`preference` (X-Provider-Preference) names the provider to mint at when it is usable; otherwise
        the normal routing chooses, and a retry keeps the provider its claim names."""
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        wallet = self._visible(principal, wallet_id)
        claim = self._store.claim_of(wallet.wallet_id)
        key = charge_key(wallet.wallet_id, principal, request_key)
        if (
            wallet.status is WalletStatus.FUNDED
            and claim.state is ClaimState.FUNDED
            and claim.charge_key == key
        ):
            # A retry of the request that funded the wallet: the same answer, nothing charged again.
            return FundingOutcome(200, _funded_data(wallet, claim))
        now = self._clock.now()
        if claim.intent_id is not None and claim.charge_key == key:
            self._recover(principal, wallet, claim, now)
        asset, amount_due = self._fundable(wallet, now)
        if claim.state is ClaimState.MINTING and claim.charge_key != key:
            # Another attempt holds the claim: it (or its retry, or the sweeper) finishes. Charging now would
            # only lose the claim and be refunded.
            raise Conflict("another funding of this wallet is in progress; retry later")
        # Nothing is charged for an invoice that cannot be paid; the claim and the commit check it again.
        self._ensure_invoice_payable(wallet)

        provider = self._router.choose_provider(preference)
        result = self._payments.charge(
            amount_due,
            wallet.currency,
            payment_method,
            key,
            {
                "wallet_id": wallet.wallet_id,
                "tenant_id": wallet.tenant_id,
                "invoice_id": wallet.invoice_id or "",
            },
        )
        if result.status == "processing":
            # Watched by the sweeper too, so the wallet is funded even if the webhook never comes.
            self._store.payment_processing(wallet, result.intent_id, now)
            return FundingOutcome(
                202,
                {
                    "wallet_id": wallet.wallet_id,
                    "status": "processing",
                    "payment_intent_id": result.intent_id,
                },
            )
        if result.status != "succeeded":
            raise PaymentFailed(
                result.failure_message or f"the payment is {result.status}",
                [{"decline_code": result.decline_code, "payment_intent_id": result.intent_id}],
            )
        return self._settle(principal, wallet, result, key, asset, amount_due, provider, now)

    def complete_payment(self, payment: PaymentResult, records: Sequence[Record] = ()) -> str:
        """Finish the funding a processing payment started, once it succeeded (the Stripe webhook).

        The same claim, mint key and journal operation id as the synchronous path: whichever gets there
        first funds the wallet and the other changes nothing. `records` commit with the funding (the
        webhook's deduplication record). A payment the wallet can no longer take is refunded; with no healthy
        provider it raises ProviderUnavailable and changes nothing, for Stripe to redeliver. Answers
        `funded`, `already_funded`, `refunded` or `ignored` (not a wallet funding of ours)."""
        return self._complete(payment, records, WEBHOOK_ACTOR)

    # -- the sweeper: claims past their deadline, finished with the keys of the path that opened them ----
    def finish_claim(self, wallet_id: str) -> str:
        """A claim left minting (the request died after the charge): mint with the same key and commit, or
        refund when the wallet can no longer take it. `settled` when nothing was open."""
        claim = self._store.claim_of(wallet_id)
        if claim.state is not ClaimState.MINTING or claim.intent_id is None:
            return "settled"
        payment = self._payments.retrieve(claim.intent_id)
        return self._complete(payment, (), SWEEPER_ACTOR, claim.charge_key)

    def finish_refund(self, wallet_id: str, intent_id: str) -> str:
        """A refund record whose reversal or refund did not happen yet. ReversalPending while the provider
        still cannot take back the mint."""
        record = self._store.refund_of(wallet_id, intent_id)
        if record is None:
            return "settled"
        if record.refund_id is None or record.reversal is Reversal.PENDING:
            self._refunds.finish(record)
        return "refunded"

    def settle_processing(self, wallet_id: str, intent_id: str) -> str:
        """A bank payment that answered `processing`: funds the wallet once it succeeded (as the webhook
        does), `processing` while it has not, `failed` when it never will."""
        payment = self._payments.retrieve(intent_id)
        if payment.status == "succeeded":
            if payment.metadata.get("wallet_id") != wallet_id:
                return "ignored"
            return self._complete(payment, (), SWEEPER_ACTOR)
        if payment.status in STILL_PROCESSING:
            return "processing"
        return "failed"

    def _complete(
        self,
        payment: PaymentResult,
        records: Sequence[Record],
        actor: str,
        claimed_key: str | None = None,
    ) -> str:
        wallet_id = payment.metadata.get("wallet_id", "")
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or payment.metadata.get("tenant_id") != wallet.tenant_id:
            return "ignored"
        claim = self._store.claim_of(wallet.wallet_id)
        if claim.intent_id == payment.intent_id and claim.state is ClaimState.FUNDED:
            return "already_funded"
        principal = Principal(actor, wallet.tenant_id, frozenset())
        now = self._clock.now()
        key = claimed_key or charge_key(wallet.wallet_id, principal, None)
        try:
            asset, amount_due = self._fundable(wallet, now)
            self._ensure_invoice_payable(wallet)
            if amount_due != payment.amount_received_minor or payment.currency.upper() != wallet.currency:
                raise InvalidState("the payment does not match the wallet's amount due")
        except InvalidState:
            # A claim this intent left minting (a crash, then the wallet ended) is reversed as well.
            try:
                self._refund(principal, wallet, payment, "not_fundable", now)
            except FundedMeanwhile:
                return "already_funded"
            return "refunded"
        # No healthy provider raises (503) before anything is claimed or recorded: Stripe redelivers the
        # event later, rather than a settled bank payment being refunded for a passing outage.
        provider = self._router.choose_provider()
        try:
            self._settle(principal, wallet, payment, key, asset, amount_due, provider, now, records)
        except ReversalPending:
            # Refunded, but the provider still holds the mint: fail, so Stripe redelivers and we finish.
            raise
        except (InvalidState, ProviderUnavailable) as refused:
            refunded = self._store.refund_of(wallet.wallet_id, payment.intent_id) is not None
            if isinstance(refused, InvalidState) and not refunded:
                raise
            return "refunded"
        except Conflict as held:
            if isinstance(held, ConcurrentUpdate):
                raise
            return "refunded"
        return "funded"

    def _settle(
        self,
        principal: Principal,
        wallet: Wallet,
        result: PaymentResult,
        key: str,
        asset: Asset,
        amount_due: int,
        provider: StablecoinProvider,
        now: datetime,
        records: Sequence[Record] = (),
    ) -> FundingOutcome:
        """Claim, mint and commit a succeeded charge; refunds it when the wallet cannot take it."""
        earlier = self._store.refund_of(wallet.wallet_id, result.intent_id)
        if earlier is not None:
            # This charge was refunded by an earlier attempt with the same key: finish the undo if a
            # crash interrupted it, and never mint for it.
            self._refunds.finish(earlier)
            raise _refused_again(earlier)
        try:
            claim = self._store.claim(wallet, result.intent_id, provider.name, key, now)
        except ChargeRefunded as refunded:
            # Refunded by the other path (request or webhook) after our read: never mint for it.
            self._refunds.finish(refunded.record)
            raise _refused_again(refunded.record) from None
        except InvoiceUnpayable:
            # Voided (or paid, deleted) after the check and before the claim: nothing minted yet.
            self._refund(principal, wallet, result, "invoice_unpayable", now)
            raise InvalidState("the invoice is no longer payable; the payment was refunded") from None
        except ClaimHeld as held:
            self._refund(principal, wallet, result, "concurrent_funding", now)
            if held.holder.state is ClaimState.FUNDED:
                raise InvalidState("the wallet is already funded; this payment was refunded") from held
            raise Conflict(
                "another funding of this wallet is in progress; this payment was refunded"
            ) from held
        minting = claim.provider or provider.name
        token_amount = fiat_to_token(amount_due, wallet.currency, asset.value)
        try:
            tx = self._router.call(
                minting,
                lambda p: p.mint(asset, token_amount, wallet.evm_address, mint_key(result.intent_id)),
            )
        except WalletsError as exc:
            # A timeout may hide a mint that landed: the undo takes back whatever the key minted.
            try:
                self._refund(principal, wallet, result, "mint_failed", now)
            except FundedMeanwhile:
                return self._funded_answer(wallet.wallet_id)
            raise ProviderUnavailable("the stablecoin mint failed; the payment was refunded") from exc
        funded_claim = FundingClaim(
            wallet.wallet_id,
            result.intent_id,
            minting,
            ClaimState.FUNDED,
            key,
            tx.tx_hash or tx.tx_id,
            claim.refunds,
        )
        try:
            return self._commit(principal, wallet, funded_claim, asset, amount_due, now, records)
        except _Unfundable as unfundable:
            try:
                self._refund(principal, wallet, result, unfundable.reason, now)
            except FundedMeanwhile:
                return self._funded_answer(wallet.wallet_id)
            raise InvalidState(f"{unfundable}; the payment was refunded") from None

    # -- steps ---------------------------------------------------------------------------------------
    def _recover(self, principal: Principal, wallet: Wallet, claim: FundingClaim, now: datetime) -> None:
        """A retry of the attempt that holds (or last held) the claim finishes the undo a crash left: a
        refund record not yet carried out, or a mint whose wallet ended before it was committed."""
        intent_id = claim.intent_id or ""
        record = self._store.refund_of(wallet.wallet_id, intent_id)
        if record is not None:
            if record.refund_id is None or record.reversal is Reversal.PENDING:
                self._refunds.finish(record)
            return
        if claim.state is not ClaimState.MINTING:
            return
        try:
            self._fundable(wallet, now)
            self._ensure_invoice_payable(wallet)
        except InvalidState:
            payment = self._payments.retrieve(intent_id)
            try:
                self._refund(principal, wallet, payment, "wallet_ended", now)
            except FundedMeanwhile:
                return

    def _funded_answer(self, wallet_id: str) -> FundingOutcome:
        wallet = self._wallets.get(wallet_id)
        if wallet is None:
            raise NotFound("wallet not found")
        return FundingOutcome(200, _funded_data(wallet, self._store.claim_of(wallet_id)))

    def _visible(self, principal: Principal, wallet_id: str) -> Wallet:
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or not may_act_on(principal, wallet):
            raise NotFound("wallet not found")
        return wallet

    def _ensure_invoice_payable(self, wallet: Wallet) -> None:
        """A wallet made for an invoice takes money only while that invoice is payable (API.md: fund)."""
        if wallet.invoice_id is None:
            return
        invoice = self._invoices.get(wallet.tenant_id, wallet.invoice_id)
        if invoice is None or invoice.deleted_at is not None:
            raise InvoiceUnpayable("the wallet's invoice no longer exists")
        if invoice.status not in FUNDABLE:
            raise InvoiceUnpayable(f"an invoice that is {invoice.status.value} cannot be funded")

    @staticmethod
    def _fundable(wallet: Wallet, now: datetime) -> tuple[Asset, int]:
        if wallet.status in FINISHED or wallet.is_expired(now):
            raise InvalidState(f"a wallet that is {wallet.status_at(now).value} cannot be funded")
        if wallet.status is not WalletStatus.ACTIVE:
            raise InvalidState(f"a wallet that is {wallet.status.value} cannot be funded again")
        amount_due = to_minor(max(wallet.spending_limit - wallet.balance, Decimal(0)), wallet.currency)
        if amount_due <= 0:
            raise InvalidState("the wallet has nothing left to fund")
        asset = FUNDING_TOKENS.get(wallet.currency)
        if asset is None:
            raise InvalidState(f"wallets in {wallet.currency} cannot be funded")
        return asset, amount_due

    def _refund(
        self, principal: Principal, wallet: Wallet, result: PaymentResult, reason: str, now: datetime
    ) -> None:
        """Record first, then undo: a retry that finds the record refunds (idempotently) and never mints."""
        self._refunds.refund(principal, wallet, result, reason, now)

    def _commit(
        self,
        principal: Principal,
        wallet: Wallet,
        claim: FundingClaim,
        asset: Asset,
        amount_due: int,
        now: datetime,
        extra: Sequence[Record] = (),
    ) -> FundingOutcome:
        intent_id = claim.intent_id or ""
        journal = funding(
            operation_id=intent_id,
            wallet_id=wallet.wallet_id,
            tenant_id=wallet.tenant_id,
            currency=wallet.currency,
            token=asset.value,
            fiat_amount=amount_due,
            created_at=now,
            payment_intent_id=intent_id,
            provider=claim.provider or "",
        )
        current = wallet
        for _ in range(_COMMIT_ATTEMPTS):
            balance = current.balance + from_minor(amount_due, current.currency)
            after = current.model_copy(
                update={
                    "balance": balance,
                    "status": WalletStatus.FUNDED,
                    "provider": claim.provider,
                    "updated_at": now,
                    "version": current.version + 1,
                }
            )
            outcome = self._try_commit(principal, current, after, claim, journal, amount_due, now, extra)
            if outcome is not None:
                return outcome
            reread = self._wallets.get(wallet.wallet_id)
            stored = self._store.claim_of(wallet.wallet_id)
            if reread is not None and stored.intent_id == intent_id and stored.state is ClaimState.FUNDED:
                # Funded by this very intent (the webhook path): success.
                return FundingOutcome(200, _funded_data(reread, stored))
            if stored.intent_id != intent_id or stored.state is not ClaimState.MINTING:
                raise _Unfundable("mint_failed", "another attempt refunded this payment")
            if reread is None or reread.status is not WalletStatus.ACTIVE or reread.is_expired(now):
                # The wallet ended while we minted: the caller undoes the mint and the charge.
                raise _Unfundable("wallet_ended", "the wallet changed state while it was being funded")
            try:
                self._ensure_invoice_payable(reread)
            except InvoiceUnpayable:
                raise _Unfundable("invoice_unpayable", "the invoice stopped being payable") from None
            current = reread
        raise ConcurrentUpdate("the wallet changed while it was being funded; retry")

    def _try_commit(
        self,
        principal: Principal,
        before: Wallet,
        after: Wallet,
        claim: FundingClaim,
        journal: Any,
        amount_due: int,
        now: datetime,
        extra: Sequence[Record] = (),
    ) -> FundingOutcome | None:
        data = {
            "tenant_id": before.tenant_id,
            "wallet_id": before.wallet_id,
            "invoice_id": before.invoice_id,
            "amount": format_minor(amount_due, before.currency),
            "currency": before.currency,
            "wallet_balance": _balance_text(after),
            "provider": claim.provider,
            "payment_intent_id": claim.intent_id,
            "transaction_hash": claim.transaction_hash,
            "status": WalletStatus.FUNDED.value,
        }
        channels = [f"wallet:{before.wallet_id}"]
        if before.invoice_id:
            channels.append(f"invoice:{before.invoice_id}")
        changes = {
            "status": {"from": before.status.value, "to": WalletStatus.FUNDED.value},
            "balance": {"from": _balance_text(before), "to": _balance_text(after)},
            "payment_intent_id": claim.intent_id,
            "provider": claim.provider,
        }
        records: list[Record] = [
            audit_entry(before.wallet_id, "wallet.funded", principal.sub, before.tenant_id, now, changes),
            domain_event("wallet:funded", channels, data, now, resource=Resource("wallet", before.wallet_id)),
            domain_event(
                "payment:received", channels, data, now, resource=Resource("wallet", before.wallet_id)
            ),
            *extra,
        ]
        commit = FundingCommit(
            journal, before, after, claim, records, status_change_deltas(before.status, WalletStatus.FUNDED)
        )
        try:
            outcome = self._store.commit(commit)
        except ConcurrentUpdate:
            return None
        if outcome is PostOutcome.ALREADY_POSTED:
            stored = self._wallets.get(before.wallet_id) or after
            return FundingOutcome(200, _funded_data(stored, self._store.claim_of(before.wallet_id)))
        return FundingOutcome(200, _funded_data(after, claim))


def _refused_again(record: RefundRecord) -> WalletsError:
    """The answer to a retry of a charge refunded earlier, as the first attempt answered."""
    if record.reason == "mint_failed":
        return ProviderUnavailable("the stablecoin mint failed earlier and this payment was refunded")
    if record.reason == "concurrent_funding":
        return Conflict("another funding of this wallet was in progress; this payment was refunded")
    return InvalidState("the wallet could not take this payment; it was refunded")


def _balance_text(wallet: Wallet) -> str:
    places = minor_units(wallet.currency)
    return format_amount(wallet.balance, places)


def _funded_data(wallet: Wallet, claim: FundingClaim) -> dict[str, Any]:
    return {
        "wallet_id": wallet.wallet_id,
        "wallet_balance": _balance_text(wallet),
        "transaction_hash": claim.transaction_hash,
        "provider": claim.provider,
        "status": WalletStatus.FUNDED.value,
        "payment_intent_id": claim.intent_id,
    }
