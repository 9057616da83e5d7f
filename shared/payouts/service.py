"""Payouts: created `pending_approval` with every item checked first, approved by admins other than the
creator (the tenant's policy says how many), and paid in the background from the treasury.

Money path (as consumer batches, shared/consumer/batches.py): the LAST approval moves the payout's total
from the treasury wallet to the payout's own account (`wallet:{payout_id}:{coin}`) in the same transaction
that marks it approved, so the ledger's guard on the treasury refuses a second payout that would overdraw
it (400 `insufficient_balance`). Each item then leaves that account once: to a consumer inside the ledger, to
the outside world when the provider confirmed it (Tempo: one call per chunk; Circle: one per item), to a
payroll claim wallet (shared/payouts/payroll.py), or back to the treasury when refused for good (`failed`,
and `retry-failed` holds it again under a new attempt). An outside item is `processing` before its call and
carries its attempt's key: a run after a crash sends the very same request, which the provider answers
without paying twice, and commits it then.

Processing is never in the request: approval (and retry-failed) commit a `payout.approved` (`payout.retrying`)
event, which the outbox stream brings to payout_worker; a scheduled payout is run by its Scheduler `at()`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.consumer.batch_records import NETWORK_TERMS
from shared.consumer.batches import netted
from shared.consumer.ports import ConsumerStore
from shared.consumer.providers import SERVES
from shared.consumer.records import (
    ConsumerTransaction,
    Profile,
    TransactionStatus,
    TransactionType,
    format_token,
    token_minor,
)
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import (
    ConcurrentUpdate,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InsufficientBalance,
    InvalidState,
    NotFound,
    ProviderUnavailable,
    ValidationFailed,
)
from shared.funding.ports import ProviderGateway, WalletReader
from shared.ids import new_id
from shared.invoices.service import jittered_backoff
from shared.ledger.accounts import Account
from shared.ledger.journal import Journal, JournalKind, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.models.payouts import PayoutCreate
from shared.outbox.records import DomainEvent, Record, Resource, audit_entry, domain_event, iso
from shared.payouts.ports import PayoutStore, PayoutTimer, ReferenceTaken
from shared.payouts.records import (
    CHUNK_ITEMS,
    OPEN_ITEMS,
    ItemStatus,
    Payout,
    PayoutChunk,
    PayoutItem,
    PayoutStatus,
    item_counts,
)
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset, Transfer
from shared.treasury.service import treasury_wallet_id

REFERENCE_LIFETIME = timedelta(days=30)
# Consumers paid inside the ledger per transaction: about 65 operations with their history lines, events
# and sequence counters, inside DynamoDB's 100.
INTERNAL_GROUP = 10
_ATTEMPTS = 12
# Events that start (or continue) a payout's processing in payout_worker (infra/events.py routes them).
RUN_EVENTS = ("payout.approved", "payout.retrying", "payout.continued")


def escrow(payout_id: str, coin: str) -> Account:
    """The payout's own account: what its last approval held and its items have not yet used."""
    return Account.wallet(payout_id, coin)


class PayrollFunding(Protocol):
    """Payroll items: each funded into its own claim wallet (shared/payouts/payroll.py)."""

    def fund(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem]) -> PayoutChunk: ...


class PayoutService:
    def __init__(
        self,
        store: PayoutStore,
        consumers: ConsumerService,
        consumer_store: ConsumerStore,
        ledger: LedgerStore,
        wallets: WalletReader,
        router: Callable[[], ProviderGateway],
        timer: Callable[[], PayoutTimer],
        clock: Clock,
        *,
        payroll: Callable[[], PayrollFunding] | None = None,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._store = store
        self._consumers = consumers
        self._consumer_store = consumer_store
        self._ledger = ledger
        self._wallets = wallets
        self._router = router
        self._timer = timer
        self._clock = clock
        self._payroll = payroll
        self._backoff = backoff

    # -- creating ---------------------------------------------------------------------------------------
    def create(self, principal: Principal, body: PayoutCreate) -> tuple[bool, dict[str, Any]]:
        """(created, answer): a new payout, or the one its reference named within 30 days."""
        require_role(principal, MERCHANT, ADMIN)
        items = self._validated(principal.tenant_id, body)
        now = self._clock.now()
        payout_id = new_id("po")
        totals: dict[str, int] = defaultdict(int)
        for item in items:
            totals[item.currency] += item.amount
        chunks = [
            PayoutChunk(payout_id, n + 1, tuple(items[start : start + CHUNK_ITEMS]))
            for n, start in enumerate(range(0, len(items), CHUNK_ITEMS))
        ]
        payout = Payout(
            id=payout_id,
            tenant_id=principal.tenant_id,
            purpose=body.purpose,
            reference=body.reference,
            created_by=principal.sub,
            created_at=now,
            updated_at=now,
            status=PayoutStatus.PENDING_APPROVAL,
            approvals_required=self._store.approvals_required(principal.tenant_id),
            totals=dict(totals),
            item_count=len(items),
            chunks=len(chunks),
            scheduled_for=body.scheduled_for,
            counts={ItemStatus.PENDING.value: len(items)},
        )
        changes = {"purpose": body.purpose, "items": len(items), "reference": body.reference}
        records: list[Record] = [
            audit_entry(payout_id, "payout.created", principal.sub, principal.tenant_id, now, changes),
            self._event(payout, "payout.created", now),
        ]
        try:
            self._store.create(payout, chunks, now + REFERENCE_LIFETIME, records)
        except ReferenceTaken as taken:
            existing = self._store.get(taken.payout_id)
            if existing is None or existing.tenant_id != principal.tenant_id:
                raise ConcurrentUpdate(
                    "the payout of this reference is still being recorded; retry"
                ) from None
            return False, {"payout": existing.to_api(self._items(existing))}
        return True, {"payout": payout.to_api(items)}

    def _validated(self, tenant_id: str, body: PayoutCreate) -> list[PayoutItem]:
        """Every item checked before anything is stored: a repeated item reference, a consumer that does
        not exist, an address on payroll (a payroll item is claimed by a person) are each listed."""
        problems: list[dict[str, str]] = []
        first_of: dict[str, int] = {}
        known: dict[str, Profile | None] = {}
        items: list[PayoutItem] = []
        for index, line in enumerate(body.items):
            if line.reference in first_of:
                problems.append(
                    _problem(
                        f"items.{index}.reference", f"repeats item {first_of[line.reference]}'s reference"
                    )
                )
                continue
            first_of[line.reference] = index
            recipient = line.recipient
            item = PayoutItem(
                index,
                recipient.kind,
                recipient.value,
                token_minor(line.amount),
                line.currency,
                line.reference,
            )
            if recipient.kind == "address":
                if body.purpose == "payroll":
                    problems.append(
                        _problem(
                            f"items.{index}.recipient",
                            "a payroll item is claimed by a person: name a consumer_id or an email",
                        )
                    )
                else:
                    items.append(item)
                continue
            lookup = recipient.value.lower() if recipient.kind == "email" else recipient.value
            if lookup not in known:
                known[lookup] = self._consumer_named(tenant_id, lookup)
            profile = known[lookup]
            if profile is None:
                if recipient.kind == "email" and body.purpose == "payroll":
                    # Not a consumer yet: claimed by whoever onboards with this email, or to a bank.
                    items.append(item.changed(to=lookup))
                else:
                    problems.append(
                        _problem(
                            f"items.{index}.recipient", "no consumer of this tenant has this id or email"
                        )
                    )
                continue
            wallet_id = profile.wallet_id if body.purpose == "vendor" else None
            items.append(item.changed(to=lookup, user_id=profile.user_id, wallet_id=wallet_id))
        if problems:
            raise ValidationFailed("some items are invalid; nothing was stored", problems)
        return items

    def _consumer_named(self, tenant_id: str, name: str) -> Profile | None:
        try:
            return self._consumers.recipient(tenant_id, name)
        except NotFound:
            return None

    # -- reading ----------------------------------------------------------------------------------------
    def get(self, principal: Principal, payout_id: str) -> dict[str, Any]:
        require_role(principal, MERCHANT, ADMIN)
        payout = self._payout(principal, payout_id)
        return {"payout": payout.to_api(self._items(payout))}

    def _payout(self, principal: Principal, payout_id: str) -> Payout:
        found = self._store.get(payout_id) if payout_id.startswith("po_") else None
        if found is None or found.tenant_id != principal.tenant_id:
            raise NotFound("payout not found")
        return found

    def _items(self, payout: Payout) -> list[PayoutItem]:
        return [item for chunk in self._store.chunks(payout.id) for item in chunk.items]

    # -- deciding ---------------------------------------------------------------------------------------
    def approve(self, principal: Principal, payout_id: str) -> dict[str, Any]:
        """One admin's approval; the last one needed holds the total on the treasury in its transaction."""
        require_role(principal, ADMIN)
        for attempt in range(_ATTEMPTS):
            payout = self._payout(principal, payout_id)
            if principal.sub == payout.created_by:
                raise Forbidden("the creator of a payout may not approve it")
            if payout.status in (PayoutStatus.CANCELLED, PayoutStatus.REJECTED):
                raise InvalidState(f"this payout is {payout.status.value}; it cannot be approved")
            if payout.status is not PayoutStatus.PENDING_APPROVAL:
                raise Conflict("this payout is approved already")
            if principal.sub in payout.approvals:
                raise Conflict("you approved this payout already")
            now = self._clock.now()
            approvals = (*payout.approvals, principal.sub)
            last = len(approvals) >= payout.approvals_required
            status = PayoutStatus.APPROVED if last else PayoutStatus.PENDING_APPROVAL
            after = payout.changed(now, approvals=approvals, status=status)
            name = "payout.approved" if last else "payout.approval_recorded"
            changes = {"approvals": len(approvals), "required": payout.approvals_required}
            records: list[Record] = [
                audit_entry(payout.id, name, principal.sub, payout.tenant_id, now, changes),
                self._event(after, name, now),
            ]
            operations = [self._store.payout_change(payout, after), *self._store.records(records)]
            try:
                if not last:
                    self._store.write(operations)
                else:
                    if after.scheduled_for is not None and after.scheduled_for > now:
                        # Before the commit: a schedule whose approval never committed finds nothing to run.
                        self._timer().schedule(payout.id, after.scheduled_for)
                    self._ledger.post(self._hold(after, now), operations)
            except ConcurrentUpdate:
                self._backoff(attempt)
                continue
            except InsufficientBalance as short:
                raise InsufficientBalance(
                    "the treasury does not hold this payout's total; nothing was approved",
                    [*short.details, *self._shortfall(after)],
                ) from None
            return {"payout": after.to_api()}
        raise ConcurrentUpdate("this payout kept changing; retry")

    def reject(self, principal: Principal, payout_id: str) -> dict[str, Any]:
        require_role(principal, ADMIN)
        return self._decide(principal, payout_id, PayoutStatus.REJECTED)

    def cancel(self, principal: Principal, payout_id: str) -> dict[str, Any]:
        """Before processing began: pending (nothing held) or approved (its hold goes back)."""
        require_role(principal, ADMIN)
        return self._decide(principal, payout_id, PayoutStatus.CANCELLED)

    def _decide(self, principal: Principal, payout_id: str, outcome: PayoutStatus) -> dict[str, Any]:
        allowed = (PayoutStatus.PENDING_APPROVAL,) + (
            (PayoutStatus.APPROVED,) if outcome is PayoutStatus.CANCELLED else ()
        )
        for attempt in range(_ATTEMPTS):
            payout = self._payout(principal, payout_id)
            if payout.status not in allowed:
                raise InvalidState(f"this payout is {payout.status.value}; it cannot be {outcome.value}")
            now = self._clock.now()
            after = payout.changed(now, status=outcome, decided_by=principal.sub)
            name = f"payout.{outcome.value}"
            records: list[Record] = [
                audit_entry(
                    payout.id, name, principal.sub, payout.tenant_id, now, {"from": payout.status.value}
                ),
                self._event(after, name, now),
            ]
            operations = [self._store.payout_change(payout, after), *self._store.records(records)]
            try:
                if payout.status is PayoutStatus.APPROVED:
                    self._ledger.post(self._release_all(payout, now), operations)
                else:
                    self._store.write(operations)
            except ConcurrentUpdate:
                self._backoff(attempt)
                continue
            return {"payout": after.to_api()}
        raise ConcurrentUpdate("this payout kept changing; retry")

    def retry_failed(self, principal: Principal, payout_id: str) -> dict[str, Any]:
        """Failed items held again from the treasury under a new attempt, and the payout run again; paid,
        claimed and returned items are never touched."""
        require_role(principal, MERCHANT, ADMIN)
        payout = self._payout(principal, payout_id)
        if payout.status not in (PayoutStatus.PROCESSING, PayoutStatus.COMPLETED_WITH_ERRORS):
            raise InvalidState(
                f"this payout is {payout.status.value}; only failed items of a run are retried"
            )
        chunks = self._store.chunks(payout.id)
        failed = {c.number: [i for i in c.items if i.status is ItemStatus.FAILED] for c in chunks}
        needed: dict[str, int] = defaultdict(int)
        for items in failed.values():
            for item in items:
                needed[item.currency] += item.amount
        self._refuse_short(payout.tenant_id, needed)
        for chunk in chunks:
            if failed[chunk.number]:
                self._hold_again(payout, chunk, failed[chunk.number])
        for attempt in range(_ATTEMPTS):
            current = self._payout(principal, payout_id)
            now = self._clock.now()
            after = current.changed(now, status=PayoutStatus.PROCESSING)
            records: list[Record] = [
                audit_entry(current.id, "payout.retrying", principal.sub, current.tenant_id, now, {}),
                self._event(after, "payout.retrying", now),
            ]
            try:
                self._store.write([self._store.payout_change(current, after), *self._store.records(records)])
            except ConcurrentUpdate:
                self._backoff(attempt)
                continue
            break
        return self.get(principal, payout_id)

    def _hold_again(self, payout: Payout, chunk: PayoutChunk, failed: list[PayoutItem]) -> None:
        fresh = [
            item.changed(
                status=ItemStatus.PENDING,
                attempt=item.attempt + 1,
                error=None,
                provider=None,
                provider_tx=None,
            )
            for item in failed
        ]
        moves: dict[Account, int] = defaultdict(int)
        for item in failed:
            moves[_treasury(payout, item.currency)] -= item.amount
            moves[escrow(payout.id, item.currency)] += item.amount
        journal = self._journal(payout, "hold-again", failed, moves)
        after = chunk.with_items(fresh)
        try:
            self._ledger.post(journal, [self._store.chunk_change(chunk, after)])
        except ConcurrentUpdate:
            raise ConcurrentUpdate("this payout's failed items are being retried already") from None

    # -- processing (payout_worker) ---------------------------------------------------------------------
    def process(self, payout_id: str, out_of_time: Callable[[], bool] = lambda: False) -> Payout | None:
        """Run an approved payout's open items (once each), then settle its outcome. Safe to run twice at
        once or again after a crash: every change is conditioned on the chunk's version as read."""
        payout = self._store.get(payout_id)
        if payout is None or payout.status not in (PayoutStatus.APPROVED, PayoutStatus.PROCESSING):
            return payout
        now = self._clock.now()
        if payout.status is PayoutStatus.APPROVED:
            if payout.scheduled_for is not None and payout.scheduled_for > now:
                return payout
            started = payout.changed(now, status=PayoutStatus.PROCESSING)
            try:
                self._store.write(
                    [
                        self._store.payout_change(payout, started),
                        *self._store.records([self._event(started, "payout.processing", now)]),
                    ]
                )
                payout = started
            except ConcurrentUpdate:
                again = self._store.get(payout_id)
                if again is None or again.status is not PayoutStatus.PROCESSING:
                    return again
                payout = again
        source = self._wallets.get(treasury_wallet_id(payout.tenant_id))
        chunks = self._store.chunks(payout.id)
        for chunk in chunks:
            if any(item.status in OPEN_ITEMS for item in chunk.items):
                self._run_chunk(payout, chunk, source.evm_address if source else None)
                if len(chunks) > 1:
                    self._progress(payout, chunk.number)
            if chunk.number < len(chunks) and out_of_time():
                now = self._clock.now()
                self._store.write(self._store.records([self._event(payout, "payout.continued", now)]))
                return payout
        return self._settle(payout)

    def _run_chunk(self, payout: Payout, chunk: PayoutChunk, source: str | None) -> None:
        try:
            pending = [item for item in chunk.items if item.status is ItemStatus.PENDING]
            if payout.purpose == "payroll":
                if pending and self._payroll is not None:
                    chunk = self._payroll().fund(payout, chunk, pending)
                return
            for start in range(0, len(pending), INTERNAL_GROUP):
                group = [item for item in pending[start : start + INTERNAL_GROUP] if not item.external]
                if group:
                    chunk = self._pay_internal(payout, chunk, group)
            chunk = self._start_external(payout, chunk, [i for i in pending if i.external])
            sending = [i for i in chunk.items if i.status is ItemStatus.PROCESSING and i.external]
            if sending and source is None:
                raise InvalidState("the treasury wallet is gone")
            for group in _send_groups(sending):
                chunk = self._send(payout, chunk, group, source or "")
        except ConcurrentUpdate:
            # Another run of this payout changed the chunk first; it carries on with it.
            return
        except (ProviderUnavailable, DependencyUnavailable):
            # Nothing refused for good: the open items wait for the next run (retry-failed runs it again).
            return

    def _pay_internal(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem]) -> PayoutChunk:
        now = self._clock.now()
        moves: dict[Account, int] = defaultdict(int)
        history: list[tuple[str, ConsumerTransaction]] = []
        events: list[Record] = []
        for item in items:
            assert item.user_id is not None and item.wallet_id is not None
            moves[escrow(payout.id, item.currency)] -= item.amount
            moves[Account.wallet(item.wallet_id, item.currency)] += item.amount
            line = ConsumerTransaction(
                new_id("txn"),
                TransactionType.TRANSFER_RECEIVED,
                item.amount,
                item.currency,
                TransactionStatus.COMPLETED,
                f"payout:{payout.id}",
                None,
                now,
                now,
                memo=item.reference,
            )
            history.append((item.user_id, line))
            data = {
                "tenant_id": payout.tenant_id,
                "transaction_id": line.id,
                "amount": format_token(item.amount),
                "currency": item.currency,
                "from": f"payout:{payout.id}",
                "payout_id": payout.id,
            }
            resource = Resource("consumer", item.user_id)
            channel = [consumer_channel(item.user_id)]
            events.append(domain_event("transfer:received", channel, data, now, resource=resource))
            balance = {"tenant_id": payout.tenant_id, "wallet_id": item.wallet_id}
            events.append(domain_event("balance:updated", channel, balance, now, resource=resource))
        journal = self._journal(payout, "items", items, moves)
        after = chunk.with_items([item.changed(status=ItemStatus.PAID) for item in items])
        operations = [
            self._store.chunk_change(chunk, after),
            *self._consumer_store.movement_operations(
                payout.tenant_id, payout.created_by, [], history, events
            ),
        ]
        self._ledger.post(journal, operations)
        return after

    def _start_external(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem]) -> PayoutChunk:
        """Outside items named to the provider that will pay them and marked processing before any call."""
        if not items:
            return chunk
        provider = self._router().choose_provider()
        served = SERVES.get(provider.name, ())
        started = [
            item.changed(status=ItemStatus.PROCESSING, provider=provider.name)
            for item in items
            if item.currency in served
        ]
        if not started:
            raise ProviderUnavailable("no available provider serves these items' coins now")
        after = chunk.with_items(started)
        self._store.write([self._store.chunk_change(chunk, after)])
        return after

    def _send(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem], source: str) -> PayoutChunk:
        name = items[0].provider or ""
        asset = Asset(items[0].currency)
        if NETWORK_TERMS[name].batch_call:
            key = f"payout-{payout.id}-{chunk.number}-{asset.value}-{items[0].attempt}"
            legs = [Transfer(item.to, item.amount) for item in items]
            return self._settle_sent(
                payout, chunk, items, name, lambda p: p.batch_transfer(asset, legs, source, key).tx_id
            )
        for item in items:
            key = f"payout-{payout.id}-{item.index}-{item.attempt}"
            one = item

            def call(p: Any, one: PayoutItem = one, key: str = key) -> str:
                return str(p.transfer(asset, one.amount, source, one.to, key).tx_id)

            chunk = self._settle_sent(payout, chunk, [item], name, call)
        return chunk

    def _settle_sent(
        self,
        payout: Payout,
        chunk: PayoutChunk,
        items: list[PayoutItem],
        provider: str,
        call: Callable[[Any], str],
    ) -> PayoutChunk:
        try:
            tx_id = self._router().call(provider, call)
        except ProviderRejected as refused:
            return self._fail(payout, chunk, items, refused.message)
        except (ProviderUnavailable, DependencyUnavailable):
            # Not known to have moved or not: left processing, sent again under the same key next run.
            return chunk
        coin = items[0].currency
        moves: dict[Account, int] = {
            escrow(payout.id, coin): -sum(i.amount for i in items),
            Account.external("chain", coin): sum(i.amount for i in items),
        }
        journal = self._journal(payout, "sent", items, moves, provider_tx=tx_id)
        after = chunk.with_items([i.changed(status=ItemStatus.PAID, provider_tx=tx_id) for i in items])
        try:
            self._ledger.post(journal, [self._store.chunk_change(chunk, after)])
        except DependencyUnavailable:
            # Paid at the provider, not yet here: the next run sends the same key (no second payment) and
            # commits then.
            return chunk
        return after

    def _fail(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem], reason: str) -> PayoutChunk:
        """Refused for good: the items' money back to the treasury, each item failed with the reason."""
        moves: dict[Account, int] = defaultdict(int)
        for item in items:
            moves[escrow(payout.id, item.currency)] -= item.amount
            moves[_treasury(payout, item.currency)] += item.amount
        journal = self._journal(payout, "back", items, moves)
        after = chunk.with_items([i.changed(status=ItemStatus.FAILED, error=reason) for i in items])
        now = self._clock.now()
        data = {"indexes": [i.index for i in items], "error": reason}
        event = self._event(payout, "payout.items_failed", now, data)
        self._ledger.post(journal, [self._store.chunk_change(chunk, after), *self._store.records([event])])
        return after

    def _settle(self, payout: Payout) -> Payout:
        """Completed (or with errors) once no item is open; the counts as they are."""
        for attempt in range(_ATTEMPTS):
            items = self._items(payout)
            counts = item_counts(items)
            if (
                any(item.status in OPEN_ITEMS for item in items)
                or payout.status is not PayoutStatus.PROCESSING
            ):
                return payout
            failed = counts.get(ItemStatus.FAILED.value, 0)
            status = PayoutStatus.COMPLETED_WITH_ERRORS if failed else PayoutStatus.COMPLETED
            now = self._clock.now()
            after = payout.changed(now, status=status, counts=counts)
            event = self._event(after, f"payout.{status.value}", now, {"counts": counts})
            try:
                self._store.write([self._store.payout_change(payout, after), *self._store.records([event])])
            except ConcurrentUpdate:
                again = self._store.get(payout.id)
                if again is None:
                    raise
                payout = again
                self._backoff(attempt)
                continue
            return after
        return payout

    def _progress(self, payout: Payout, chunk_number: int) -> None:
        now = self._clock.now()
        data = {"chunk": chunk_number, "chunks": payout.chunks}
        try:
            self._store.write(self._store.records([self._event(payout, "payout.progress", now, data)]))
        except (ConcurrentUpdate, DependencyUnavailable):
            return  # progress is news, not state: a lost one changes nothing

    # -- money ------------------------------------------------------------------------------------------
    def _hold(self, payout: Payout, now: datetime) -> Journal:
        moves: dict[Account, int] = defaultdict(int)
        for coin, amount in payout.totals.items():
            moves[_treasury(payout, coin)] -= amount
            moves[escrow(payout.id, coin)] += amount
        return Journal(
            journal_id_for(JournalKind.TRANSFER, payout.id, "hold"),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"payout_id": payout.id, "tenant_id": payout.tenant_id},
        )

    def _release_all(self, payout: Payout, now: datetime) -> Journal:
        moves: dict[Account, int] = defaultdict(int)
        for coin, amount in payout.totals.items():
            moves[escrow(payout.id, coin)] -= amount
            moves[_treasury(payout, coin)] += amount
        return Journal(
            journal_id_for(JournalKind.TRANSFER, payout.id, "release"),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"payout_id": payout.id, "tenant_id": payout.tenant_id},
        )

    def _journal(
        self, payout: Payout, step: str, items: Sequence[PayoutItem], moves: dict[Account, int], **refs: str
    ) -> Journal:
        keys = [f"{item.index}.{item.attempt}" for item in items]
        return Journal(
            journal_id_for(JournalKind.TRANSFER, payout.id, step, *keys),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            self._clock.now(),
            {"payout_id": payout.id, "tenant_id": payout.tenant_id, **refs},
        )

    def _shortfall(self, payout: Payout) -> list[dict[str, str]]:
        wallet_id = treasury_wallet_id(payout.tenant_id)
        held = self._ledger.balances([Account.wallet(wallet_id, coin) for coin in payout.totals])
        return [
            {
                "field": f"totals.{coin}",
                "message": f"needs {format_token(amount)}, the treasury holds "
                f"{format_token(held.get(Account.wallet(wallet_id, coin), 0))}",
                "type": "insufficient_balance",
            }
            for coin, amount in sorted(payout.totals.items())
        ]

    def _refuse_short(self, tenant_id: str, needed: dict[str, int]) -> None:
        wallet_id = treasury_wallet_id(tenant_id)
        held = self._ledger.balances([Account.wallet(wallet_id, coin) for coin in needed])
        short = [
            {
                "field": f"totals.{coin}",
                "message": f"needs {format_token(amount)}",
                "type": "insufficient_balance",
            }
            for coin, amount in sorted(needed.items())
            if held.get(Account.wallet(wallet_id, coin), 0) < amount
        ]
        if short:
            raise InsufficientBalance(
                "the treasury does not hold the failed items' total; nothing moved", short
            )

    @staticmethod
    def _event(payout: Payout, name: str, now: datetime, extra: dict[str, Any] | None = None) -> DomainEvent:
        data = {
            "tenant_id": payout.tenant_id,
            "payout_id": payout.id,
            "status": payout.status.value,
            "purpose": payout.purpose,
            "reference": payout.reference,
            "at": iso(now),
            **(extra or {}),
        }
        channels = [f"payout:{payout.id}", "admin"]
        return domain_event(name, channels, data, now, resource=Resource("payout", payout.id))


def _treasury(payout: Payout, coin: str) -> Account:
    return Account.wallet(treasury_wallet_id(payout.tenant_id), coin)


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": "value_error"}


def _send_groups(items: list[PayoutItem]) -> list[list[PayoutItem]]:
    """One provider call's items: same provider, coin and attempt (so a rerun regroups them the same)."""
    groups: dict[tuple[str, str, int], list[PayoutItem]] = defaultdict(list)
    for item in items:
        groups[(item.provider or "", item.currency, item.attempt)].append(item)
    return [groups[key] for key in sorted(groups)]


def elapsed_budget(seconds: float, clock: Callable[[], float] = time.monotonic) -> Callable[[], bool]:
    """A worker's `out_of_time`: true once `seconds` have passed since it was made."""
    started = clock()
    return lambda: clock() - started > seconds
