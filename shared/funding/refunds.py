"""Undoing a charge that will not fund its wallet: the refund record first, then the provider-side
reversal of any mint the charge may have caused, then the refund at the payment processor.

Every step is keyed by the PaymentIntent, so a crash between any two of them is finished by whoever comes
next (a retried request, a redelivered webhook) and none of them happens twice:
- the record (`FUNDREFUND#{intent}`) is written once and releases the wallet's claim in the same
  transaction, so no later attempt mints for that intent;
- a mint can have landed only if the intent held the claim while minting. The reversal re-sends that mint
  with its own key (a replay at the provider when it landed, the mint itself when it did not) and burns
  the same amount with `fund-unmint-{intent}`: whatever happened before, the provider nets to zero. A
  rejected replay means the mint never landed, and nothing is burned;
- the refund carries `fund-refund-{intent}`, so the processor refunds once.
The payer is refunded even while the provider cannot burn yet: the answer is then ReversalPending (503),
so the request's retry or Stripe's redelivery of the event finishes the reversal.
"""

from __future__ import annotations

from datetime import datetime

from shared.auth import Principal
from shared.cards.ports import PaymentProcessor, PaymentResult
from shared.errors import ConcurrentUpdate, Conflict, ProviderUnavailable
from shared.funding.ports import (
    ClaimState,
    FundingStore,
    ProviderGateway,
    RefundRecord,
    Reversal,
)
from shared.ledger.assets import fiat_to_token
from shared.models.wallet import Wallet
from shared.outbox.records import AuditEntry, audit_entry
from shared.providers.errors import IDEMPOTENCY_CONFLICT, ProviderRejected
from shared.providers.models import Asset

# The stablecoin each wallet currency is funded with (1:1 in major units).
FUNDING_TOKENS: dict[str, Asset] = {"USD": Asset.USDC, "EUR": Asset.EURC}


def mint_key(intent_id: str) -> str:
    return f"fund-mint-{intent_id}"


def unmint_key(intent_id: str) -> str:
    return f"fund-unmint-{intent_id}"


def refund_key(intent_id: str) -> str:
    return f"fund-refund-{intent_id}"


class ReversalPending(ProviderUnavailable):
    """The payer is refunded, but the provider could not yet take back what the charge minted: retry."""


class FundedMeanwhile(Conflict):
    """The charge funded the wallet through another path (the webhook) before it could be refunded."""


class FundingRefunds:
    def __init__(
        self,
        store: FundingStore,
        payments: PaymentProcessor,
        router: ProviderGateway,
    ) -> None:
        self._store = store
        self._payments = payments
        self._router = router

    def refund(
        self, principal: Principal, wallet: Wallet, payment: PaymentResult, reason: str, now: datetime
    ) -> RefundRecord:
        """Record, reverse any mint, refund. FundedMeanwhile when the charge funded the wallet instead."""
        record = self._store.refund_of(wallet.wallet_id, payment.intent_id)
        if record is None:
            record = self._new_record(wallet, payment, reason)
            try:
                self._store.record_refund(wallet, record, now, [_refunded(wallet, record, principal, now)])
            except ConcurrentUpdate:
                claim = self._store.claim_of(wallet.wallet_id)
                if claim.intent_id == payment.intent_id and claim.state is ClaimState.FUNDED:
                    raise FundedMeanwhile("this payment funded the wallet; nothing to refund") from None
                raise
            record = self._store.refund_of(wallet.wallet_id, payment.intent_id) or record
        return self.finish(record)

    def finish(self, record: RefundRecord) -> RefundRecord:
        """The reversal and the refund a record asks for that have not happened yet."""
        pending: ProviderUnavailable | None = None
        if record.reversal is Reversal.PENDING:
            try:
                self._reverse(record)
            except ProviderUnavailable as exc:
                pending = exc
        if record.refund_id is None:
            refund = self._payments.refund(
                record.intent_id, record.amount_minor, refund_key(record.intent_id)
            )
            self._store.refund_issued(record.wallet_id, record.intent_id, refund.refund_id)
        if pending is not None:
            raise ReversalPending(
                "the payment was refunded; the provider cannot take back the minted tokens yet"
            ) from pending
        return self._store.refund_of(record.wallet_id, record.intent_id) or record

    def _reverse(self, record: RefundRecord) -> None:
        provider = record.provider or ""
        asset = Asset(record.asset or "")
        address = record.address or ""
        try:
            self._router.call(
                provider, lambda p: p.mint(asset, record.token_amount, address, mint_key(record.intent_id))
            )
        except ProviderRejected as refused:
            # The keyed mint was refused (the replay of a refusal, or refused now): nothing ever landed,
            # unless the key is taken by a different mint, which only a person can untangle.
            blocked = refused.reason == IDEMPOTENCY_CONFLICT
            state = Reversal.BLOCKED if blocked else Reversal.DONE
            self._store.reversal_settled(record.wallet_id, record.intent_id, state)
            return
        try:
            self._router.call(
                provider, lambda p: p.burn(asset, record.token_amount, address, unmint_key(record.intent_id))
            )
        except ProviderRejected:
            self._store.reversal_settled(record.wallet_id, record.intent_id, Reversal.BLOCKED)
            return
        self._store.reversal_settled(record.wallet_id, record.intent_id, Reversal.DONE)

    def _new_record(self, wallet: Wallet, payment: PaymentResult, reason: str) -> RefundRecord:
        claim = self._store.claim_of(wallet.wallet_id)
        asset = FUNDING_TOKENS.get(wallet.currency)
        if claim.intent_id != payment.intent_id or claim.state is not ClaimState.MINTING or asset is None:
            return RefundRecord(
                wallet.wallet_id, payment.intent_id, payment.amount_received_minor, payment.currency, reason
            )
        return RefundRecord(
            wallet.wallet_id,
            payment.intent_id,
            payment.amount_received_minor,
            payment.currency,
            reason,
            reversal=Reversal.PENDING,
            provider=claim.provider,
            asset=asset.value,
            token_amount=fiat_to_token(payment.amount_received_minor, wallet.currency, asset.value),
            address=wallet.evm_address,
        )


def _refunded(wallet: Wallet, record: RefundRecord, principal: Principal, now: datetime) -> AuditEntry:
    changes = {
        "payment_intent_id": record.intent_id,
        "amount_minor": record.amount_minor,
        "reason": record.reason,
    }
    return audit_entry(
        wallet.wallet_id, "wallet.funding_refunded", principal.sub, wallet.tenant_id, now, changes
    )
