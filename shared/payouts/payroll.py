"""Payroll items: each funded from the payout's hold into its own ephemeral claim wallet (purpose `payroll`),
with a signed claim link (the payment links' signing, under its own domain: shared/checkout/links.py).

- funding: the wallet is made under an id derived from the item and its attempt (a rerun after a crash
  adopts it), its destruction scheduled at the claim's expiry (default 7 days) like every ephemeral wallet's;
  then one transaction moves the item's amount from the payout's account to the wallet and marks the item
  `paid` with its link;
- claiming: the employee, signed in as the consumer the item names (by consumer id, or by the email the item
  was sent to), takes the whole amount into their consumer wallet; the item becomes `claimed` in the same
  transaction (conditioned on the chunk as read, and the ledger's guard on the wallet), so a link is claimed
  once however often it is posted;
- unclaimed at expiry: the SAME destruction machinery destroys the wallet (shared/destruction/service.py);
  before erasing its keys it calls `return_unclaimed`, which moves what the wallet holds back to the treasury
  and marks the item `returned` with `payout.item_returned`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.auth import MERCHANT, Principal
from shared.checkout.links import LinkClaims, PaymentLinks
from shared.clock import Clock
from shared.consumer.batches import netted
from shared.consumer.ports import ConsumerStore
from shared.consumer.records import (
    ConsumerTransaction,
    TransactionStatus,
    TransactionType,
    format_token,
)
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import ConcurrentUpdate, Conflict, Forbidden, InvalidLink, InvalidState
from shared.ids import derived_id, new_id
from shared.ledger.accounts import Account
from shared.ledger.journal import Entry, Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.models.wallet import Wallet
from shared.outbox.records import DomainEvent, Record, Resource, domain_event, iso
from shared.payouts.ports import PayoutStore
from shared.payouts.records import ItemStatus, Payout, PayoutChunk, PayoutItem
from shared.treasury.service import treasury_wallet_id

CLAIM_LIFETIME = timedelta(days=7)
CLAIM_LINK_DOMAIN = b"cl1."
CLAIM_PATH = "/public/claim/"
# Items funded per transaction: the chunk, a journal of up to 11 accounts with their statement lines, and an
# event with its counter, inside DynamoDB's 100 operations.
FUND_GROUP = 10


def claim_wallet_id(payout_id: str, index: int, attempt: int) -> str:
    return derived_id("wal", "payroll", payout_id, str(index), str(attempt))


class ClaimWallets(Protocol):
    def create_payroll_wallet(
        self, principal: Principal, wallet_id: str, ttl_seconds: int, records: list[Record]
    ) -> Any: ...


class WalletLookup(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


class PayrollClaims:
    def __init__(
        self,
        store: PayoutStore,
        ledger: LedgerStore,
        wallets: WalletLookup,
        making: Callable[[], ClaimWallets],
        links: Callable[[], PaymentLinks],
        consumers: ConsumerService,
        consumer_store: ConsumerStore,
        clock: Clock,
        *,
        lifetime: timedelta = CLAIM_LIFETIME,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._wallets = wallets
        self._making = making
        self._links = links
        self._consumers = consumers
        self._consumer_store = consumer_store
        self._clock = clock
        self._lifetime = lifetime

    # -- funding (payout_worker, through PayoutService) -------------------------------------------------
    def fund(self, payout: Payout, chunk: PayoutChunk, items: list[PayoutItem]) -> PayoutChunk:
        for start in range(0, len(items), FUND_GROUP):
            group = items[start : start + FUND_GROUP]
            funded = [self._funded(payout, chunk, item) for item in group]
            chunk = self._commit_funding(payout, chunk, funded)
        return chunk

    def _funded(self, payout: Payout, chunk: PayoutChunk, item: PayoutItem) -> PayoutItem:
        """The item with its claim wallet (made now, or found from an earlier run) and its link."""
        wallet_id = claim_wallet_id(payout.id, item.index, item.attempt)
        wallet = self._wallets.get(wallet_id)
        if wallet is None:
            maker = Principal(payout.created_by, payout.tenant_id, frozenset({MERCHANT}))
            marker = self._store.claim_marker_record(wallet_id, payout.id, chunk.number, item.index)
            seconds = int(self._lifetime.total_seconds())
            try:
                wallet = self._making().create_payroll_wallet(maker, wallet_id, seconds, [marker]).wallet
            except ConcurrentUpdate:
                wallet = self._wallets.get(wallet_id)
                if wallet is None:
                    raise
        assert wallet is not None and wallet.expires_at is not None
        links = self._links()
        token, expires_at = links.issue(payout.tenant_id, payout.id, wallet_id, wallet.expires_at)
        return item.changed(
            status=ItemStatus.PAID,
            wallet_id=wallet_id,
            claim_expires_at=iso(expires_at),
            claim_url=links.url(token),
        )

    def _commit_funding(self, payout: Payout, chunk: PayoutChunk, funded: list[PayoutItem]) -> PayoutChunk:
        moves: dict[Account, int] = defaultdict(int)
        for item in funded:
            assert item.wallet_id is not None
            moves[Account.wallet(payout.id, item.currency)] -= item.amount
            moves[Account.wallet(item.wallet_id, item.currency)] += item.amount
        keys = [f"{item.index}.{item.attempt}" for item in funded]
        now = self._clock.now()
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, payout.id, "claims", *keys),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"payout_id": payout.id, "tenant_id": payout.tenant_id},
        )
        after = chunk.with_items(funded)
        event = _event(payout, "payout.items_funded", now, {"indexes": [i.index for i in funded]})
        self._ledger.post(journal, [self._store.chunk_change(chunk, after), *self._store.records([event])])
        return after

    # -- the link ---------------------------------------------------------------------------------------
    def view(self, token: str) -> dict[str, Any]:
        """What the claim page shows: amount, employer, countdown; InvalidLink for a bad or expired link."""
        claims, payout, _, item = self._located(token)
        now = self._clock.now()
        remaining = max(0, int((claims.expires_at - now).total_seconds()))
        return {
            "claim": {
                "payout_id": payout.id,
                "employer": payout.tenant_id,
                "reference": item.reference,
                "amount": format_token(item.amount),
                "currency": item.currency,
                "status": item.status.value,
                "recipient": {item.kind: item.to},
                "expires_at": iso(claims.expires_at),
                "remaining_seconds": remaining,
                "server_time": iso(now),
            }
        }

    def claim(self, token: str, principal: Principal) -> dict[str, Any]:
        """The whole amount into the signed-in consumer's wallet, once."""
        for _ in range(8):
            _, payout, chunk, item = self._located(token)
            if item.status is ItemStatus.CLAIMED:
                raise Conflict("this pay was claimed already")
            if item.status is not ItemStatus.PAID:
                raise InvalidState(f"this pay is {item.status.value}; it cannot be claimed")
            profile = self._consumers.profile(principal)
            if profile.tenant_id != payout.tenant_id or not _names(item, profile.user_id, profile.email):
                raise Forbidden("this pay is addressed to someone else")
            assert item.wallet_id is not None
            now = self._clock.now()
            journal = Journal(
                journal_id_for(JournalKind.TRANSFER, item.wallet_id, "claimed"),
                JournalKind.TRANSFER,
                tuple(
                    _move(
                        Account.wallet(item.wallet_id, item.currency),
                        Account.wallet(profile.wallet_id, item.currency),
                        item.amount,
                    )
                ),
                now,
                {"payout_id": payout.id, "tenant_id": payout.tenant_id, "wallet_id": item.wallet_id},
            )
            claimed = item.changed(status=ItemStatus.CLAIMED, user_id=profile.user_id)
            after = chunk.with_items([claimed])
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
            data = {"index": item.index, "wallet_id": item.wallet_id, "claimed_by": profile.user_id}
            resource = Resource("consumer", profile.user_id)
            balance = {"tenant_id": payout.tenant_id, "wallet_id": profile.wallet_id}
            events: list[Record] = [
                _event(payout, "payout.item_claimed", now, data),
                domain_event(
                    "balance:updated", [consumer_channel(profile.user_id)], balance, now, resource=resource
                ),
            ]
            operations = [
                self._store.chunk_change(chunk, after),
                *self._consumer_store.movement_operations(
                    payout.tenant_id, profile.user_id, [], [(profile.user_id, line)], events
                ),
            ]
            try:
                self._ledger.post(journal, operations)
            except ConcurrentUpdate:
                continue
            return {"claim": {**self.view(token)["claim"], "transaction_id": line.id}}
        raise ConcurrentUpdate("this pay kept changing; retry")

    # -- expiry (the destruction machinery) -------------------------------------------------------------
    def return_unclaimed(self, wallet: Wallet) -> bool:
        """Before a payroll wallet's keys are erased: what it holds back to the treasury, its item
        `returned`. True if the wallet held money for an item still waiting to be claimed."""
        marker = self._store.claim_marker(wallet.wallet_id)
        if marker is None:
            return False
        payout_id, number, index = marker
        for _ in range(8):
            payout = self._store.get(payout_id)
            chunk = self._store.chunk(payout_id, number)
            if payout is None or chunk is None:
                return False
            item = chunk.items[index - chunk.items[0].index]
            if item.status is not ItemStatus.PAID or item.wallet_id != wallet.wallet_id:
                return False
            held = self._ledger.balance(Account.wallet(wallet.wallet_id, item.currency))
            now = self._clock.now()
            returned = chunk.with_items([item.changed(status=ItemStatus.RETURNED)])
            data = {"index": item.index, "wallet_id": wallet.wallet_id, "amount": format_token(held)}
            operations = [
                self._store.chunk_change(chunk, returned),
                *self._store.records([_event(payout, "payout.item_returned", now, data)]),
            ]
            try:
                if held:
                    treasury = Account.wallet(treasury_wallet_id(payout.tenant_id), item.currency)
                    journal = Journal(
                        journal_id_for(JournalKind.TRANSFER, wallet.wallet_id, "returned"),
                        JournalKind.TRANSFER,
                        tuple(_move(Account.wallet(wallet.wallet_id, item.currency), treasury, held)),
                        now,
                        {
                            "payout_id": payout.id,
                            "tenant_id": payout.tenant_id,
                            "wallet_id": wallet.wallet_id,
                        },
                    )
                    self._ledger.post(journal, operations)
                else:
                    self._store.write(operations)
            except ConcurrentUpdate:
                continue
            return True
        raise ConcurrentUpdate("this payroll item kept changing; retry")

    def _located(self, token: str) -> tuple[LinkClaims, Payout, PayoutChunk, PayoutItem]:
        claims = self._links().verify(token)
        marker = self._store.claim_marker(claims.wallet_id)
        payout = self._store.get(claims.invoice_id)
        if marker is None or payout is None or payout.tenant_id != claims.tenant_id or marker[0] != payout.id:
            raise InvalidLink("the claim link is invalid")
        chunk = self._store.chunk(payout.id, marker[1])
        if chunk is None:
            raise InvalidLink("the claim link is invalid")
        item = chunk.items[marker[2] - chunk.items[0].index]
        if item.wallet_id != claims.wallet_id:
            raise InvalidLink("the claim link is invalid")
        return claims, payout, chunk, item


def _names(item: PayoutItem, user_id: str, email: str) -> bool:
    if item.user_id is not None:
        return item.user_id == user_id
    return item.kind == "email" and item.to == email.lower()


def _move(source: Account, destination: Account, amount: int) -> list[Entry]:
    return [credit(source, amount), debit(destination, amount)]


def _event(payout: Payout, name: str, now: datetime, extra: dict[str, Any]) -> DomainEvent:
    data = {"tenant_id": payout.tenant_id, "payout_id": payout.id, "purpose": payout.purpose, "at": iso(now)}
    return domain_event(
        name, [f"payout:{payout.id}", "admin"], {**data, **extra}, now, resource=Resource("payout", payout.id)
    )
