"""The merchant's refund of what an invoice's wallet holds (POST /api/v2/invoice-wallets/{id}/refund): the
tokens burned at the provider, the same amount refunded to the PaymentIntent that funded the wallet, and the
refund journal posted with the wallet back to `active` and empty, so that the invoice may then be voided.

A claim with states makes it safe to repeat and to race: `begin` takes the wallet's refund claim in one
transaction conditional on the wallet as read, its funding and no payment in flight (a pay, a fund and
destruction each check the claim in turn, so none of them moves the money while it is in flight); the
intent fixes the burn key, Stripe's key and the journal id; a retry (the request's, or destruction's settle
before it begins, or the sweeper once the claim is past its deadline) resumes the claim in flight and does
each step once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.cards.ports import PaymentProcessor
from shared.clock import Clock
from shared.errors import ConcurrentUpdate, InvalidState, NotFound
from shared.funding.ports import (
    ClaimState,
    FundingStore,
    ProviderGateway,
    RefundState,
    WalletReader,
    WalletRefund,
    WalletRefundHeld,
    WalletRefundStore,
)
from shared.funding.remainder import RemainderReturn, ReturnKeys
from shared.ids import is_wallet_id
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus, to_minor
from shared.money import format_minor
from shared.outbox.records import Record, Resource, audit_entry, domain_event
from shared.wallets.service import may_see
from shared.wallets.stats import status_change_deltas

# The event on the wallet's and invoice's channels (documented in docs/openapi.json's refund route).
REFUNDED_EVENT = "wallet:refunded"


def return_keys(wallet_id: str, intent_id: str) -> ReturnKeys:
    return ReturnKeys(
        burn=f"wallet-refund-burn-{intent_id}",
        refund=f"wallet-refund-{intent_id}",
        operation_id=f"wallet-refund-{wallet_id}-{intent_id}",
    )


@dataclass(frozen=True)
class RefundOutcome:
    data: dict[str, Any]


class WalletRefundService:
    def __init__(
        self,
        wallets: WalletReader,
        store: WalletRefundStore,
        funding: FundingStore,
        payments: PaymentProcessor,
        router: ProviderGateway,
        clock: Clock,
    ) -> None:
        self._wallets = wallets
        self._store = store
        self._funding = funding
        self._returns = RemainderReturn(payments, router)
        self._clock = clock

    def refund(self, principal: Principal, wallet_id: str) -> RefundOutcome:
        require_role(principal, MERCHANT, ADMIN)
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if (
            wallet is None
            or principal.is_link
            or not may_see(principal, wallet.tenant_id, wallet.customer_id)
        ):
            raise NotFound("wallet not found")
        held = self._store.refund_claim_of(wallet.wallet_id)
        if held is not None and held.state is RefundState.IN_FLIGHT:
            # A refund of this wallet was interrupted (or runs right now): this request finishes it.
            return self._finish(held, resumed=True)
        now = self._clock.now()
        amount_minor = to_minor(wallet.balance, wallet.currency)
        if amount_minor <= 0:
            raise InvalidState("the wallet holds nothing to refund")
        status = wallet.status_at(now)
        if status is not WalletStatus.FUNDED:
            raise InvalidState(f"a wallet that is {status.value} cannot be refunded")
        claim = self._funding.claim_of(wallet.wallet_id)
        if claim.intent_id is None or claim.state is not ClaimState.FUNDED:
            raise InvalidState("the wallet holds no funded payment to refund")
        wanted = WalletRefund(
            wallet_id=wallet.wallet_id,
            tenant_id=wallet.tenant_id,
            intent_id=claim.intent_id,
            amount_minor=amount_minor,
            currency=wallet.currency,
            state=RefundState.IN_FLIGHT,
            actor=principal.sub,
            created_at=now,
        )
        try:
            self._store.begin(wallet, wanted)
        except WalletRefundHeld as held_now:
            return self._finish(held_now.holder, resumed=True)
        except ConcurrentUpdate:
            # A payment, a destruction or another refund moved the wallet since we read it.
            raise ConcurrentUpdate("the wallet changed while the refund started; retry") from None
        return self._finish(wanted, resumed=False, known=wallet)

    def settle_in_flight(self, wallet_id: str) -> bool:
        """Finish the wallet's refund in flight, for destruction; True when none is left."""
        self.finish_in_flight(wallet_id)
        return True

    def finish_in_flight(self, wallet_id: str) -> str:
        """Finish the wallet's refund in flight (the sweeper's entry: burn, Stripe refund and journal with
        the claim's own keys, each done once): "refunded", or "gone" when none is in flight."""
        held = self._store.refund_claim_of(wallet_id)
        if held is None or held.state is not RefundState.IN_FLIGHT:
            return "gone"
        self._finish(held, resumed=True)
        return "refunded"

    def _finish(self, refund: WalletRefund, *, resumed: bool, known: Wallet | None = None) -> RefundOutcome:
        wallet = known or self._wallets.get(refund.wallet_id)
        if wallet is None:
            raise NotFound("wallet not found")
        returned = self._returns.send_back(
            wallet,
            refund.intent_id,
            refund.amount_minor,
            return_keys(wallet.wallet_id, refund.intent_id),
            created_at=refund.created_at,
            reason="merchant_refund",
            resumed=resumed,
        )
        done = replace(refund, state=RefundState.DONE, refund_id=returned.refund_id, burn_tx=returned.burn_tx)
        now = self._clock.now()
        after = wallet.model_copy(
            update={
                "balance": wallet.balance * 0,
                "status": WalletStatus.ACTIVE,
                "updated_at": now,
                "version": wallet.version + 1,
            }
        )
        refunded = format_minor(refund.amount_minor, refund.currency)
        data = {
            "tenant_id": wallet.tenant_id,
            "wallet_id": wallet.wallet_id,
            "invoice_id": wallet.invoice_id,
            "refunded": refunded,
            "currency": refund.currency,
            "wallet_balance": format_minor(0, refund.currency),
            "wallet_status": WalletStatus.ACTIVE.value,
            "payment_intent_id": refund.intent_id,
            "refund_id": returned.refund_id,
        }
        channels = [f"wallet:{wallet.wallet_id}"]
        if wallet.invoice_id:
            channels.append(f"invoice:{wallet.invoice_id}")
        changes = {
            "status": {"from": wallet.status.value, "to": WalletStatus.ACTIVE.value},
            "refunded": refunded,
            "payment_intent_id": refund.intent_id,
            "refund_id": returned.refund_id,
            "burn_tx": returned.burn_tx,
            "journal_id": returned.journal.id,
        }
        records: list[Record] = [
            audit_entry(wallet.wallet_id, "wallet.refunded", refund.actor, wallet.tenant_id, now, changes),
            domain_event(REFUNDED_EVENT, channels, data, now, resource=Resource("wallet", wallet.wallet_id)),
        ]
        stats = status_change_deltas(wallet.status, WalletStatus.ACTIVE)
        outcome = self._store.commit(wallet, after, done, returned.journal, records, stats)
        if outcome is PostOutcome.ALREADY_POSTED:
            current = self._wallets.get(wallet.wallet_id) or after
            return RefundOutcome(_answer(refunded, current.status))
        return RefundOutcome(_answer(refunded, after.status))


def _answer(refunded: str, status: WalletStatus) -> dict[str, Any]:
    return {"refunded": refunded, "wallet_status": status.value}
