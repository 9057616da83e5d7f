"""Destroying an ephemeral wallet: one idempotent service behind three triggers (payment complete, the
Scheduler `at()` schedule at `expires_at`, the lease's TTL REMOVE on the stream).

Steps, each safe to repeat and to run twice at once:
1. begin: one transaction moves the wallet to `destroying` (paid) or `expired` (unpaid), out of the active
   set, and writes the progress record. It refuses while a payment is in flight, which is settled first,
   so every transfer that happened is in the ledger before the remainder is computed;
2. forward the remainder (shared/funding/remainder.py): burn it at the provider (key `destroy-burn-{id}`),
   refund that much of the payer's PaymentIntent (key `destroy-refund-{id}`; a resumed run first looks for
   a refund it made, since Stripe forgets keys after 24 hours), then post the refund journal with the
   balance going to zero. It never reads the invoice: a void or deleted one does not stop destruction;
3. cancel the card at the issuer and delete the schedule (both idempotent at their end);
4. finish: one transaction erases the keys (drops the wrapped data key), deletes the lease, writes the
   destruction log with its verification hash, marks the wallet `destroyed` and emits `wallet:destroyed`.

A failure at any step leaves the progress where it was; the next trigger (the schedule's retries, the
stream's retries, or the other trigger) resumes from there. Burning before refunding means a crash in
between leaves the reserve holding more than it owes, never less.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from shared.cards.ports import CardIssuer, PaymentProcessor
from shared.clock import Clock
from shared.destruction.log import build_log
from shared.destruction.ports import (
    DestructionMetrics,
    DestructionProgress,
    DestructionStore,
    FundingClaims,
    InFlightPayments,
    PaymentInFlight,
    PayrollReturns,
)
from shared.destruction.triggers import DestructionReason, Trigger
from shared.errors import ConcurrentUpdate, InvalidState
from shared.funding.ports import ClaimState, ProviderGateway
from shared.funding.remainder import RemainderReturn, ReturnKeys
from shared.models.wallet import EXPIRABLE, Wallet, WalletMode, WalletStatus, to_minor
from shared.money import format_minor
from shared.outbox.records import Record, Resource, audit_entry, domain_event, iso
from shared.wallets.ports import DestructionScheduler, WalletRepository
from shared.wallets.stats import destroyed_deltas, status_change_deltas

logger = Logger(child=True)

ACTOR = "wallet-destroyer"
# A schedule or sweep may fire a moment before our clock reaches expires_at (clock skew between services).
EARLY_TOLERANCE = timedelta(seconds=2)
# How soon a destruction that failed after its payment is tried again (by its moved schedule).
RETRY_DELAY = timedelta(minutes=1)
_ATTEMPTS = 4
ERASED_MATERIAL = ["evm_private_key", "solana_ed25519_seed"]


@dataclass(frozen=True)
class DestructionOutcome:
    wallet_id: str
    result: str
    """destroyed · already_destroyed · not_found · not_ephemeral · not_due"""
    reason: DestructionReason | None = None
    verification_hash: str | None = None

    @property
    def destroyed(self) -> bool:
        return self.result in ("destroyed", "already_destroyed")


def burn_key(wallet_id: str) -> str:
    return f"destroy-burn-{wallet_id}"


def refund_key(wallet_id: str) -> str:
    return f"destroy-refund-{wallet_id}"


def card_key(wallet_id: str) -> str:
    return f"card-off-{wallet_id}"


def forward_operation(wallet_id: str) -> str:
    return f"destroy-{wallet_id}"


class DestructionService:
    def __init__(
        self,
        wallets: WalletRepository,
        store: DestructionStore,
        funding: FundingClaims,
        payments: PaymentProcessor,
        cards: CardIssuer,
        scheduler: DestructionScheduler,
        router: ProviderGateway,
        clock: Clock,
        in_flight: InFlightPayments,
        metrics: DestructionMetrics | None = None,
        payroll: Callable[[], PayrollReturns] | None = None,
    ) -> None:
        self._payroll = payroll
        self._wallets = wallets
        self._store = store
        self._funding = funding
        self._cards = cards
        self._scheduler = scheduler
        self._clock = clock
        self._in_flight = in_flight
        self._metrics = metrics
        self._returns = RemainderReturn(payments, router)

    def destroy(self, wallet_id: str, trigger: str, paid: Wallet | None = None) -> DestructionOutcome:
        """`paid`: the wallet exactly as a payment just committed it (status `payment_complete`), which
        spares two reads; begin's version condition catches anyone who moved it since."""
        fired_by = Trigger(trigger)
        for _ in range(_ATTEMPTS):
            wallet = paid if paid is not None else self._wallets.get(wallet_id)
            if wallet is None:
                # A schedule or lease whose wallet never committed (a failed creation): nothing to destroy.
                return DestructionOutcome(wallet_id, "not_found")
            if wallet.wallet_type is not WalletMode.EPHEMERAL:
                # Transformed to persistent: a stale trigger must never touch it.
                return DestructionOutcome(wallet_id, "not_ephemeral")
            if wallet.status is WalletStatus.DESTROYED:
                return DestructionOutcome(wallet_id, "already_destroyed")
            # Begin writes `destroying`/`expired` with the progress record: a wallet the payment just left
            # `payment_complete` has none.
            fresh = paid is not None and paid.status is WalletStatus.PAYMENT_COMPLETE
            paid = None
            progress = None if fresh else self._store.progress_of(wallet_id)
            resumed = progress is not None
            if progress is None:
                now = self._clock.now()
                reason = _reason(wallet, now)
                if reason is None:
                    logger.info(
                        "destruction trigger before its time",
                        extra={"wallet_id": wallet_id, "trigger": fired_by.value, "status": wallet.status},
                    )
                    return DestructionOutcome(wallet_id, "not_due")
                try:
                    wallet, progress = self._begin(wallet, reason, fired_by, now)
                except PaymentInFlight:
                    self._in_flight.settle_in_flight(wallet_id)
                    continue
                except ConcurrentUpdate:
                    continue
            return self._run(wallet, progress, fired_by, resumed)
        raise ConcurrentUpdate(f"wallet {wallet_id} kept changing while it was being destroyed; retry")

    def retry_soon(self, wallet_id: str) -> None:
        """Replace the wallet's schedule with one a minute from now (a destruction that failed after the
        payment must not wait for `expires_at`). Deleted first: a schedule keeps its first instant. If the
        create fails after the delete, the lease's TTL at `expires_at` still destroys the wallet."""
        at = self._clock.now() + RETRY_DELAY
        wallet = self._wallets.get(wallet_id)
        if wallet is None or wallet.expires_at is None or wallet.expires_at <= at:
            return
        self._scheduler.cancel_destruction(wallet_id)
        self._scheduler.schedule_destruction(wallet_id, at)

    # -- steps ---------------------------------------------------------------------------------------
    def _begin(
        self, wallet: Wallet, reason: DestructionReason, trigger: Trigger, now: datetime
    ) -> tuple[Wallet, DestructionProgress]:
        status = WalletStatus.DESTROYING if reason is DestructionReason.PAID else WalletStatus.EXPIRED
        after = wallet.model_copy(update={"status": status, "updated_at": now, "version": wallet.version + 1})
        progress = DestructionProgress(
            wallet_id=wallet.wallet_id,
            tenant_id=wallet.tenant_id,
            reason=reason,
            trigger=trigger,
            started_at=now,
            status_before=wallet.status,
            balance_minor=to_minor(wallet.balance, wallet.currency),
        )
        changes = {
            "status": {"from": wallet.status.value, "to": status.value},
            "reason": reason.value,
            "trigger": trigger.value,
        }
        records: list[Record] = [
            audit_entry(wallet.wallet_id, "wallet.destruction_started", ACTOR, wallet.tenant_id, now, changes)
        ]
        if reason is DestructionReason.EXPIRED:
            channels = [f"wallet:{wallet.wallet_id}", f"countdown:{wallet.wallet_id}"]
            if wallet.invoice_id:
                channels.append(f"invoice:{wallet.invoice_id}")
            event_data = _event_data(wallet, status, now)
            records.append(
                domain_event(
                    "wallet.expired", channels, event_data, now, resource=Resource("wallet", wallet.wallet_id)
                )
            )
        self._store.begin(wallet, after, progress, records, status_change_deltas(wallet.status, status))
        return after, progress

    def _run(
        self, wallet: Wallet, progress: DestructionProgress, trigger: Trigger, resumed: bool
    ) -> DestructionOutcome:
        if progress.forward_journal_id is None and progress.balance_minor > 0:
            progress = self._forward(wallet, progress, resumed)
        if wallet.purpose == "payroll" and self._payroll is not None:
            # Funded from a treasury inside the ledger, not by a payer: what it holds goes back there.
            self._payroll().return_unclaimed(wallet)
        card_status = None
        if wallet.card_id:
            card_status = self._cards.deactivate_card(wallet.card_id, card_key(wallet.wallet_id)).status
        self._scheduler.cancel_destruction(wallet.wallet_id)
        return self._finish(wallet, progress, trigger, card_status)

    def _forward(self, wallet: Wallet, progress: DestructionProgress, resumed: bool) -> DestructionProgress:
        claim = self._funding.claim_of(wallet.wallet_id)
        intent_id = claim.intent_id
        if not intent_id or claim.state is not ClaimState.FUNDED:
            raise InvalidState(f"wallet {wallet.wallet_id} holds a remainder but no funded payment to refund")
        keys = ReturnKeys(
            burn_key(wallet.wallet_id), refund_key(wallet.wallet_id), forward_operation(wallet.wallet_id)
        )
        returned = self._returns.send_back(
            wallet,
            intent_id,
            progress.balance_minor,
            keys,
            created_at=progress.started_at,
            reason=progress.reason.value,
            resumed=resumed,
        )
        journal = returned.journal
        forwarded = replace(
            progress,
            forward_journal_id=journal.id,
            burn_tx=returned.burn_tx,
            refund_id=returned.refund_id,
            payment_intent_id=intent_id,
        )
        now = self._clock.now()
        changes = {
            "balance": {
                "from": format_minor(progress.balance_minor, wallet.currency),
                "to": format_minor(0, wallet.currency),
            },
            "journal_id": journal.id,
            "refund_id": returned.refund_id,
            "burn_tx": returned.burn_tx,
        }
        record = audit_entry(
            wallet.wallet_id, "wallet.remainder_refunded", ACTOR, wallet.tenant_id, now, changes
        )
        self._store.forward(wallet, journal, forwarded, [record])
        return forwarded

    def _finish(
        self, wallet: Wallet, progress: DestructionProgress, trigger: Trigger, card_status: str | None
    ) -> DestructionOutcome:
        now = self._clock.now()
        sealed = self._wallets.sealed_keys(wallet.wallet_id)
        movements: list[dict[str, Any]] = [
            {"journal_id": journal_id, "kind": "pay"} for journal_id in wallet.journal_ids
        ]
        if progress.forward_journal_id:
            movements.append(
                {
                    "journal_id": progress.forward_journal_id,
                    "kind": "refund",
                    "amount": format_minor(progress.balance_minor, wallet.currency),
                    "currency": wallet.currency,
                    "payment_intent_id": progress.payment_intent_id,
                    "refund_id": progress.refund_id,
                    "burn_tx": progress.burn_tx,
                }
            )
        facts: dict[str, Any] = {
            "tenant_id": wallet.tenant_id,
            "invoice_id": wallet.invoice_id,
            "reason": progress.reason.value,
            "trigger": progress.trigger.value,
            "finished_by": trigger.value,
            "expires_at": iso(wallet.expires_at) if wallet.expires_at else None,
            "started_at": iso(progress.started_at),
            "destroyed_at": iso(now),
            "erased": {
                "item": "KEYS",
                "material": ERASED_MATERIAL,
                "action": "wrapped data key deleted; ciphertext kept undecryptable",
                "cipher": sealed.algorithm if sealed else None,
                "kms_key_id": sealed.key_id if sealed else None,
            },
            "card": {"card_id": wallet.card_id, "status": card_status} if wallet.card_id else None,
            "schedule": "deleted",
            "lease": "deleted",
            "balance_before": format_minor(progress.balance_minor, wallet.currency),
            "balance_after": format_minor(0, wallet.currency),
            "currency": wallet.currency,
            "final_movements": movements,
        }
        log = build_log(wallet.wallet_id, facts)
        after = wallet.model_copy(
            update={"status": WalletStatus.DESTROYED, "balance": wallet.balance * 0, "updated_at": now}
        )
        data = {
            **_event_data(after, WalletStatus.DESTROYED, now),
            "reason": progress.reason.value,
            "verification_hash": log.verification_hash,
            "method": "crypto_erase",
        }
        channels = [f"wallet:{wallet.wallet_id}", f"countdown:{wallet.wallet_id}", "admin"]
        records: list[Record] = [
            audit_entry(
                wallet.wallet_id,
                "wallet.destroyed",
                ACTOR,
                wallet.tenant_id,
                now,
                {
                    "status": {"from": wallet.status.value, "to": "destroyed"},
                    "verification_hash": log.verification_hash,
                },
            ),
            domain_event(
                "wallet:destroyed", channels, data, now, resource=Resource("wallet", wallet.wallet_id)
            ),
        ]
        stats = destroyed_deltas(wallet)
        finished = self._store.finish(wallet, replace(progress, finished_at=now), log, records, stats)
        if not finished:
            stored = self._store.destruction_log(wallet.wallet_id)
            return DestructionOutcome(
                wallet.wallet_id,
                "already_destroyed",
                progress.reason,
                stored.verification_hash if stored else None,
            )
        if self._metrics is not None:
            delay = (now - wallet.expires_at).total_seconds() if wallet.expires_at else None
            self._metrics.destroyed(
                progress.reason, trigger, delay if progress.reason is DestructionReason.EXPIRED else None
            )
        logger.info(
            "wallet destroyed",
            extra={"wallet_id": wallet.wallet_id, "reason": progress.reason.value, "trigger": trigger.value},
        )
        return DestructionOutcome(wallet.wallet_id, "destroyed", progress.reason, log.verification_hash)


def _reason(wallet: Wallet, now: datetime) -> DestructionReason | None:
    if wallet.status is WalletStatus.PAYMENT_COMPLETE:
        return DestructionReason.PAID
    if (
        wallet.status in EXPIRABLE
        and wallet.expires_at is not None
        and now + EARLY_TOLERANCE >= wallet.expires_at
    ):
        return DestructionReason.EXPIRED
    if wallet.status in (WalletStatus.DESTROYING, WalletStatus.EXPIRED):
        # Begun with no progress record: cannot happen (one transaction writes both); say so loudly.
        raise InvalidState(f"wallet {wallet.wallet_id} is {wallet.status.value} without a destruction record")
    return None


def _event_data(wallet: Wallet, status: WalletStatus, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": wallet.tenant_id,
        "wallet_id": wallet.wallet_id,
        "walletId": wallet.wallet_id,
        "invoice_id": wallet.invoice_id,
        "status": status.value,
        "expires_at": iso(wallet.expires_at) if wallet.expires_at else None,
        "remaining_seconds": 0,
        "server_time": iso(now),
    }
