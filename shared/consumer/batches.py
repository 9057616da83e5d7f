"""Batch transfers of a consumer: 1-100 items validated together, held from the sender's wallet in one
transaction with the limit charge, then paid inside the ledger (consumers) or through a provider (outside
addresses: one call and one fee on Tempo, one call and one fee per item on Circle).

Money path: the hold moves every item's amount and fee from the sender's wallet to the batch's own
account (`wallet:{batch_id}:{coin}`, guarded like any wallet, so the batch can never pay out more than it
holds). Each item then leaves that account once: to its recipient, to the outside world when the provider
confirmed it, or back to the sender (with its limit use released) when the provider refused it for good.
An item is sent under a key of the batch, the item (or coin group) and its attempt, and an outage leaves it
`processing`: a retry sends the very same request, which the provider answers without paying twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.auth import Principal
from shared.clock import Clock
from shared.consumer.batch_records import (
    ADDRESS,
    NETWORK_TERMS,
    OPEN_ITEMS,
    Batch,
    BatchItem,
    BatchStatus,
    ItemStatus,
)
from shared.consumer.commands import Recipient
from shared.consumer.ports import ConsumerStore, CounterCharge, ExchangeRates
from shared.consumer.providers import SERVES
from shared.consumer.records import (
    KYC_LEVELS,
    ConsumerTransaction,
    Profile,
    TransactionStatus,
    TransactionType,
    Window,
    format_token,
    limit_of,
    token_minor,
    usd_micro,
    windows_at,
)
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    NotFound,
    ProviderUnavailable,
    ValidationFailed,
)
from shared.funding.ports import ProviderGateway, WalletReader
from shared.ids import new_id
from shared.invoices.service import jittered_backoff
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS
from shared.ledger.journal import Entry, Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.outbox.records import DomainEvent, Record, Resource, domain_event
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset, Transfer
from shared.providers.port import StablecoinProvider

# Consumers paid inside the ledger per transaction: ~6 operations each, far below DynamoDB's 100.
INTERNAL_CHUNK = 10
_BATCH_ID = re.compile(r"^bat_[0-9a-z]{24}$")
# Lost races on the sender's limit counters (concurrent transfers of one person) are read again this often.
_COMMIT_ATTEMPTS = 12


class BatchStore(Protocol):
    def batch(self, tenant_id: str, user_id: str, batch_id: str) -> Batch | None: ...

    def new_batch(self, batch: Batch) -> Any:
        """The operation putting a new batch (refused if its id exists)."""
        ...

    def item_changes(self, batch: Batch, changes: list[tuple[BatchItem, BatchItem]], now: datetime) -> Any:
        """One operation replacing each (before, after) item, only while each is still as read; the batch
        stays in the claim index (deadline from `now`) while it has open items, and leaves it with the
        last."""
        ...


def _escrow(batch_id: str, coin: str) -> Account:
    return Account.wallet(batch_id, coin)


def netted(moves: Mapping[Account, int]) -> list[Entry]:
    """Signed moves per account (debit positive) as entries, zero moves left out."""
    return [debit(a, n) if n > 0 else credit(a, -n) for a, n in sorted(moves.items()) if n]


class BatchTransfers:
    def __init__(
        self,
        consumer: ConsumerService,
        store: ConsumerStore,
        batches: BatchStore,
        ledger: LedgerStore,
        rates: ExchangeRates,
        wallets: WalletReader,
        router: Callable[[], ProviderGateway],
        clock: Clock,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._backoff = backoff
        self._consumer = consumer
        self._store = store
        self._batches = batches
        self._ledger = ledger
        self._rates = rates
        self._wallets = wallets
        self._router = router
        self._clock = clock

    # -- use cases ------------------------------------------------------------------------------------
    def create(
        self, principal: Principal, recipients: Sequence[Recipient], reference: str | None
    ) -> dict[str, Any]:
        sender = self._consumer.profile(principal)
        batch_id, now = new_id("bat"), self._clock.now()
        items = self._validated(sender, recipients)
        provider = self._provider_for(items)
        items = self._with_fees(items, provider.name if provider else None)
        batch = Batch(
            batch_id, sender.tenant_id, sender.user_id, sender.wallet_id, reference, now, tuple(items)
        )
        self._hold(sender, batch, list(batch.items), None)
        return self._run(sender, batch_id).to_api()

    def get(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        return self._batch(self._consumer.profile(principal), batch_id).to_api()

    def retry_failed(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        """Failed items held and sent again under a new attempt; unfinished ones finished under their own
        attempt's key. Paid items are never touched."""
        sender = self._consumer.profile(principal)
        batch = self._batch(sender, batch_id)
        failed = [item for item in batch.items if item.status is ItemStatus.FAILED]
        if failed:
            fresh = [
                item.changed(attempt=item.attempt + 1, fee=0, error=None, provider=None, provider_tx=None)
                for item in failed
            ]
            provider = self._provider_for(fresh)
            again = self._with_fees(fresh, provider.name if provider else None)
            self._hold(sender, batch, again, failed)
        return self._run(sender, batch_id).to_api()

    def finish(self, tenant_id: str, user_id: str, batch_id: str) -> str:
        """The sweeper's way in: a batch left with open items (a crash or an outage after its hold, and no
        retry) is run again, each item under its own attempt's key, so a provider that paid already answers
        the same transfer. Still open afterwards (the provider down): DependencyUnavailable, and the claim
        stays for the next sweep."""
        sender = self._store.profile(tenant_id, user_id)
        found = self._batches.batch(tenant_id, user_id, batch_id)
        if sender is None or found is None:
            return "settled"
        if not any(item.status in OPEN_ITEMS for item in found.items):
            return "settled"
        status = self._run(sender, batch_id).status
        if status is BatchStatus.PROCESSING:
            raise DependencyUnavailable(f"batch {batch_id} still has items its provider has not answered")
        return status.value

    # -- validation -----------------------------------------------------------------------------------
    def _validated(self, sender: Profile, recipients: Sequence[Recipient]) -> list[BatchItem]:
        items, problems = [], []
        for index, line in enumerate(recipients):
            minor = token_minor(line.amount)
            usd = usd_micro(minor, self._rates.usd_rate(STABLECOINS[line.currency]).usd)
            base = BatchItem(index, line.to, minor, line.currency, usd, new_id("txn"))
            if ADDRESS.fullmatch(line.to.strip()):
                items.append(base.changed(address=line.to.strip(), status=ItemStatus.PROCESSING))
                continue
            try:
                recipient = self._consumer.recipient(sender.tenant_id, line.to)
            except NotFound:
                problems.append(_problem(index, "no consumer of this tenant has this id, email or phone"))
                continue
            if recipient.user_id == sender.user_id:
                problems.append(_problem(index, "a batch cannot pay its sender"))
                continue
            items.append(base.changed(recipient=recipient.user_id))
        if problems:
            raise ValidationFailed("some recipients are invalid; nothing was sent", problems)
        return items

    def _provider_for(self, items: Sequence[BatchItem]) -> StablecoinProvider | None:
        """The provider paying the outside items (none needed without them); 503 before anything moves when
        the one available does not serve one of their coins (Circle: USDC and EURC only)."""
        coins = sorted({item.currency for item in items if item.external})
        if not coins:
            return None
        provider = self._router().choose_provider()
        missing = [coin for coin in coins if coin not in SERVES.get(provider.name, ())]
        if missing:
            raise ProviderUnavailable(f"no available provider serves {', '.join(missing)} now")
        return provider

    @staticmethod
    def _with_fees(items: list[BatchItem], provider: str | None) -> list[BatchItem]:
        if provider is None:
            return items
        terms, charged, answer = NETWORK_TERMS[provider], set(), []
        for item in items:
            if not item.external:
                answer.append(item)
                continue
            fee = terms.fee_per_item
            if item.currency not in charged:
                # One call per coin pays the call's fee once: held on the group's first item.
                fee += terms.fee_per_call
                charged.add(item.currency)
            answer.append(item.changed(fee=fee, provider=provider, status=ItemStatus.PROCESSING))
        return answer

    # -- the hold -------------------------------------------------------------------------------------
    def _hold(
        self, sender: Profile, batch: Batch, items: list[BatchItem], replacing: list[BatchItem] | None
    ) -> None:
        """Sender -> the batch's account for `items` (amounts and fees), the limit charged for their USD
        value, and the batch written (new) or its failed items replaced: one transaction."""
        level = KYC_LEVELS[sender.kyc_level]
        moves: dict[Account, int] = defaultdict(int)
        for item in items:
            moves[Account.wallet(sender.wallet_id, item.currency)] -= item.held
            moves[_escrow(batch.id, item.currency)] += item.held
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, batch.id, "hold", *_item_keys(items)),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            self._clock.now(),
            {"batch_id": batch.id, "tenant_id": batch.tenant_id},
        )
        requested = sum(item.usd for item in items)
        for attempt in range(_COMMIT_ATTEMPTS):
            now = self._clock.now()
            windows = windows_at(now)
            used = self._store.usage(sender.tenant_id, sender.user_id, windows)
            self._consumer.refuse_over_limit(level, windows, used, requested)
            charged = [item.changed(windows=windows) for item in items]
            if replacing is None:
                record = self._batches.new_batch(_replace_items(batch, charged))
            else:
                record = self._batches.item_changes(batch, list(zip(replacing, charged, strict=True)), now)
            lines = self._sender_lines(batch, items, now, TransactionType.TRANSFER_SENT)
            operations = self._store.movement_operations(
                sender.tenant_id,
                sender.user_id,
                [CounterCharge(w, limit_of(level, w), requested) for w in windows],
                lines,
                [self._balance_event(sender.tenant_id, sender.user_id, sender.wallet_id, now)],
            )
            try:
                self._ledger.post(journal, [record, *operations])
            except ConcurrentUpdate:
                if replacing is not None:
                    current = self._batch(sender, batch.id)
                    if any(current.items[i.index] != i for i in replacing):
                        raise ConcurrentUpdate(
                            "this batch's failed items are being retried already"
                        ) from None
                self._backoff(attempt)
                continue
            return
        raise ConcurrentUpdate("too many concurrent transfers of this consumer; retry")

    def _sender_lines(
        self, batch: Batch, items: list[BatchItem], now: datetime, kind: TransactionType
    ) -> list[tuple[str, ConsumerTransaction]]:
        """One history line per coin for the sender: the batch's hold, or what came back from it."""
        per_coin: dict[str, int] = defaultdict(int)
        for item in items:
            per_coin[item.currency] += item.held
        return [
            (
                batch.user_id,
                ConsumerTransaction(
                    new_id("txn"),
                    kind,
                    amount,
                    coin,
                    TransactionStatus.COMPLETED,
                    f"batch:{batch.id}",
                    None,
                    now,
                    now,
                    batch_id=batch.id,
                ),
            )
            for coin, amount in sorted(per_coin.items())
        ]

    # -- paying ---------------------------------------------------------------------------------------
    def _run(self, sender: Profile, batch_id: str) -> Batch:
        batch = self._batch(sender, batch_id)
        pending = [item for item in batch.items if item.status is ItemStatus.PENDING]
        known: dict[str, Profile] = {}
        for start in range(0, len(pending), INTERNAL_CHUNK):
            batch = self._pay_internal(sender, batch, pending[start : start + INTERNAL_CHUNK], known)
        sending = [item for item in batch.items if item.status is ItemStatus.PROCESSING]
        if sending:
            wallet = self._wallets.get(sender.wallet_id)
            if wallet is None:
                raise NotFound("the consumer's wallet is gone")
            address = wallet.evm_address
            for group in _provider_groups(sending):
                batch = self._send(sender, batch, group, address)
        return self._batch(sender, batch_id)

    def _pay_internal(
        self, sender: Profile, batch: Batch, items: list[BatchItem], known: dict[str, Profile]
    ) -> Batch:
        now = self._clock.now()
        moves: dict[Account, int] = defaultdict(int)
        history: list[tuple[str, ConsumerTransaction]] = []
        events: list[Record] = []
        for item in items:
            assert item.recipient is not None
            if item.recipient not in known:
                known[item.recipient] = self._consumer.recipient(batch.tenant_id, item.recipient)
            recipient = known[item.recipient]
            moves[_escrow(batch.id, item.currency)] -= item.amount
            moves[Account.wallet(recipient.wallet_id, item.currency)] += item.amount
            line = ConsumerTransaction(
                item.transaction_id,
                TransactionType.TRANSFER_RECEIVED,
                item.amount,
                item.currency,
                TransactionStatus.COMPLETED,
                sender.user_id,
                None,
                now,
                now,
                batch_id=batch.id,
            )
            history.append((recipient.user_id, line))
            data = {
                "tenant_id": batch.tenant_id,
                "transaction_id": item.transaction_id,
                "amount": format_token(item.amount),
                "currency": item.currency,
                "from": sender.user_id,
                "batch_id": batch.id,
            }
            events.append(
                domain_event(
                    "transfer:received",
                    [consumer_channel(recipient.user_id)],
                    data,
                    now,
                    resource=Resource("consumer", recipient.user_id),
                )
            )
            events.append(self._balance_event(batch.tenant_id, recipient.user_id, recipient.wallet_id, now))
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, batch.id, "items", *_item_keys(items)),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"batch_id": batch.id, "tenant_id": batch.tenant_id},
        )
        paid = [(item, item.changed(status=ItemStatus.PAID)) for item in items]
        operations = self._store.movement_operations(batch.tenant_id, sender.user_id, [], history, events)
        return self._commit(batch, paid, journal, operations, now)

    def _send(self, sender: Profile, batch: Batch, items: list[BatchItem], address: str) -> Batch:
        """Outside items of one provider and coin: one batch call (Tempo) or one call each (Circle)."""
        name = items[0].provider
        assert name is not None
        asset = Asset(items[0].currency)
        if NETWORK_TERMS[name].batch_call:
            for group in _by_attempt(items):
                key = f"batch-{batch.id}-{asset.value}-{group[0].attempt}"
                batch = self._settle(sender, batch, group, _batch_call(asset, group, address, key), name)
            return batch
        for item in items:
            key = f"batch-{batch.id}-{item.index}-{item.attempt}"
            batch = self._settle(sender, batch, [item], _item_call(asset, item, address, key), name)
        return batch

    def _settle(
        self,
        sender: Profile,
        batch: Batch,
        items: list[BatchItem],
        call: Callable[[StablecoinProvider], str],
        provider: str,
    ) -> Batch:
        try:
            tx_id = self._router().call(provider, call)
        except ProviderRejected as refused:
            return self._fail(sender, batch, items, refused.message)
        except (ProviderUnavailable, DependencyUnavailable):
            # Not known to have moved or not: left processing, to be sent again under the same key.
            return batch
        now = self._clock.now()
        coin = items[0].currency
        sent, fees = sum(i.amount for i in items), sum(i.fee for i in items)
        moves: dict[Account, int] = {
            _escrow(batch.id, coin): -(sent + fees),
            Account.external("chain", coin): sent,
            Account.fees(batch.tenant_id, coin): fees,
        }
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, batch.id, "sent", *_item_keys(items)),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"batch_id": batch.id, "tenant_id": batch.tenant_id, "provider_tx": tx_id},
        )
        paid = [(item, item.changed(status=ItemStatus.PAID, provider_tx=tx_id)) for item in items]
        return self._commit_quietly(batch, paid, journal, [], now)

    def _fail(self, sender: Profile, batch: Batch, items: list[BatchItem], reason: str) -> Batch:
        """Refused for good by the provider: the items' money back to the sender, their limit use released."""
        now = self._clock.now()
        moves: dict[Account, int] = defaultdict(int)
        releases: dict[Window, int] = defaultdict(int)
        for item in items:
            moves[_escrow(batch.id, item.currency)] -= item.held
            moves[Account.wallet(sender.wallet_id, item.currency)] += item.held
            for window in item.windows:
                releases[window] += item.usd
        level = KYC_LEVELS[sender.kyc_level]
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, batch.id, "back", *_item_keys(items)),
            JournalKind.TRANSFER,
            tuple(netted(moves)),
            now,
            {"batch_id": batch.id, "tenant_id": batch.tenant_id},
        )
        failed = [(item, item.changed(status=ItemStatus.FAILED, error=reason)) for item in items]
        operations = self._store.movement_operations(
            batch.tenant_id,
            sender.user_id,
            [CounterCharge(w, limit_of(level, w), -amount) for w, amount in releases.items()],
            self._sender_lines(batch, items, now, TransactionType.TRANSFER_RECEIVED),
            [self._balance_event(batch.tenant_id, sender.user_id, sender.wallet_id, now)],
        )
        return self._commit_quietly(batch, failed, journal, operations, now)

    def _commit(
        self,
        batch: Batch,
        changes: list[tuple[BatchItem, BatchItem]],
        journal: Journal,
        operations: list[Any],
        now: datetime,
    ) -> Batch:
        """The items changed with the journal, in one transaction; the batch as it now is (its later
        changes in this run decide whether it leaves the claim index), or as read when another run of
        this batch moved the items first."""
        try:
            self._ledger.post(journal, [self._batches.item_changes(batch, changes, now), *operations])
        except ConcurrentUpdate:
            return batch
        changed = {after.index: after for _, after in changes}
        return _replace_items(batch, [changed.get(item.index, item) for item in batch.items])

    def _commit_quietly(
        self,
        batch: Batch,
        changes: list[tuple[BatchItem, BatchItem]],
        journal: Journal,
        operations: list[Any],
        now: datetime,
    ) -> Batch:
        """Commit after a provider's answer; if the table fails now, the items stay processing and a retry
        sends the same request again (the provider answers it without moving twice) and commits then."""
        try:
            return self._commit(batch, changes, journal, operations, now)
        except DependencyUnavailable:
            return batch

    # -- helpers --------------------------------------------------------------------------------------
    def _batch(self, sender: Profile, batch_id: str) -> Batch:
        found = (
            self._batches.batch(sender.tenant_id, sender.user_id, batch_id)
            if _BATCH_ID.fullmatch(batch_id)
            else None
        )
        if found is None:
            raise NotFound("batch transfer not found")
        return found

    @staticmethod
    def _balance_event(tenant_id: str, user_id: str, wallet_id: str, now: datetime) -> DomainEvent:
        data = {"tenant_id": tenant_id, "wallet_id": wallet_id}
        return domain_event(
            "balance:updated", [consumer_channel(user_id)], data, now, resource=Resource("consumer", user_id)
        )


def _problem(index: int, message: str) -> dict[str, str]:
    return {"field": f"recipients.{index}.to", "message": message, "type": "value_error"}


def _replace_items(batch: Batch, items: list[BatchItem]) -> Batch:
    return Batch(
        batch.id,
        batch.tenant_id,
        batch.user_id,
        batch.wallet_id,
        batch.reference,
        batch.created_at,
        tuple(items),
    )


def _provider_groups(items: list[BatchItem]) -> list[list[BatchItem]]:
    groups: dict[tuple[str, str], list[BatchItem]] = defaultdict(list)
    for item in items:
        groups[(item.provider or "", item.currency)].append(item)
    return [groups[key] for key in sorted(groups)]


def _by_attempt(items: list[BatchItem]) -> list[list[BatchItem]]:
    groups: dict[int, list[BatchItem]] = defaultdict(list)
    for item in items:
        groups[item.attempt].append(item)
    return [groups[key] for key in sorted(groups)]


def _item_keys(items: list[BatchItem]) -> list[str]:
    """What names one movement of these items: each item's index and attempt (a retry's are new)."""
    return [f"{item.index}.{item.attempt}" for item in items]


def _batch_call(
    asset: Asset, items: list[BatchItem], source: str, key: str
) -> Callable[[StablecoinProvider], str]:
    legs = [Transfer(item.address or "", item.amount) for item in items]
    return lambda provider: provider.batch_transfer(asset, legs, source, key).tx_id


def _item_call(asset: Asset, item: BatchItem, source: str, key: str) -> Callable[[StablecoinProvider], str]:
    return lambda provider: provider.transfer(asset, item.amount, source, item.address or "", key).tx_id
