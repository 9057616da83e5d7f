"""Sending what a wallet holds back to the payer: burn the tokens at the provider, refund that much of the
PaymentIntent that funded it, and build the refund journal. Destruction (the remainder of a wallet that
ends) and the merchant's refund route both do this, each with its own keys, so each happens once.

Burning before refunding means a crash in between leaves the reserve holding more than it owes, never
less; the caller posts the journal (with its own state change) once both have happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.cards.ports import PaymentProcessor, RefundResult
from shared.errors import InvalidState
from shared.funding.ports import ProviderGateway
from shared.funding.refunds import FUNDING_TOKENS
from shared.ledger.assets import fiat_to_token
from shared.ledger.journal import Journal
from shared.ledger.movements import refund as refund_journal
from shared.models.wallet import Wallet


@dataclass(frozen=True)
class ReturnKeys:
    """The idempotency keys of one return: the provider's burn, Stripe's refund, the journal's id."""

    burn: str
    refund: str
    operation_id: str


@dataclass(frozen=True)
class Returned:
    journal: Journal
    burn_tx: str
    refund_id: str
    token_amount: int


class RemainderReturn:
    def __init__(self, payments: PaymentProcessor, router: ProviderGateway) -> None:
        self._payments = payments
        self._router = router

    def send_back(
        self,
        wallet: Wallet,
        intent_id: str,
        amount_minor: int,
        keys: ReturnKeys,
        *,
        created_at: datetime,
        reason: str,
        resumed: bool,
    ) -> Returned:
        """Burn `amount_minor` worth of the wallet's tokens, refund it to `intent_id`, and the journal that
        records both. `resumed`: a run that may have refunded before (Stripe forgets keys after 24 h)."""
        asset = FUNDING_TOKENS.get(wallet.currency)
        if asset is None:
            raise InvalidState(f"wallets in {wallet.currency} hold no tokens we can send back")
        if wallet.provider is None or not self._router.knows(wallet.provider):
            raise InvalidState(f"wallet {wallet.wallet_id} holds tokens at no provider we know")
        token_amount = fiat_to_token(amount_minor, wallet.currency, asset.value)
        burned = self._router.call(
            wallet.provider,
            lambda p: p.burn(asset, token_amount, wallet.evm_address, keys.burn),
        )
        refund = self._refund(intent_id, amount_minor, keys.refund, resumed)
        burn_tx = burned.tx_hash or burned.tx_id
        journal = refund_journal(
            operation_id=keys.operation_id,
            wallet_id=wallet.wallet_id,
            token=asset.value,
            currency=wallet.currency,
            token_amount=token_amount,
            created_at=created_at,
            tenant_id=wallet.tenant_id,
            payment_intent_id=intent_id,
            refund_id=refund.refund_id,
            burn_tx=burn_tx,
            reason=reason,
        )
        return Returned(journal, burn_tx, refund.refund_id, token_amount)

    def _refund(self, intent_id: str, amount_minor: int, key: str, resumed: bool) -> RefundResult:
        if resumed:
            # A run resumed later must find its refund rather than make another: the funded intent is
            # refunded by nothing but one return of what its wallet holds.
            for existing in self._payments.refunds_of(intent_id):
                if existing.amount_minor == amount_minor and existing.status not in ("failed", "canceled"):
                    return existing
        return self._payments.refund(intent_id, amount_minor, key, "requested_by_customer")
