"""Invoice wallets joining a consumer: a wallet made persistent for an invoice addressed to a consumer becomes
one of that person's wallets, in the transform's own transaction, with a history line per coin it holds and a
`balance:updated` event on their channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.consumer.ports import ConsumerStore
from shared.consumer.records import COINS, ConsumerTransaction, TransactionStatus, TransactionType
from shared.consumer.service import consumer_channel
from shared.ids import new_id
from shared.ledger.accounts import Account
from shared.ledger.ports import LedgerStore
from shared.models.wallet import Wallet
from shared.outbox.records import Record, Resource, domain_event


class ConsumerWalletJoining:
    """The wallets capability's WalletOwners: the consumer a wallet's customer id names, if any."""

    def __init__(self, store: ConsumerStore, ledger: LedgerStore) -> None:
        self._store = store
        self._ledger = ledger

    def joining(self, wallet: Wallet, now: datetime) -> list[Any] | None:
        if not wallet.customer_id:
            return None
        person = self._store.profile(wallet.tenant_id, wallet.customer_id)
        if person is None or wallet.wallet_id in (person.wallet_id, *person.joined_wallets):
            return None
        accounts = [Account.wallet(wallet.wallet_id, coin) for coin in COINS]
        held = self._ledger.balances(accounts)
        history = [
            (
                person.user_id,
                ConsumerTransaction(
                    new_id("txn"),
                    TransactionType.WALLET_JOINED,
                    held[account],
                    account.asset,
                    TransactionStatus.COMPLETED,
                    wallet.wallet_id,
                    None,
                    now,
                    now,
                ),
            )
            for account in accounts
            if held[account] > 0
        ]
        data = {"tenant_id": wallet.tenant_id, "wallet_id": wallet.wallet_id, "joined": True}
        events: list[Record] = [
            domain_event(
                "balance:updated",
                [consumer_channel(person.user_id)],
                data,
                now,
                resource=Resource("consumer", person.user_id),
            )
        ]
        return [
            self._store.join_wallet(wallet.tenant_id, person.user_id, wallet.wallet_id, now),
            *self._store.movement_operations(wallet.tenant_id, person.user_id, [], history, events),
        ]

    def joined(self, wallet: Wallet) -> bool:
        if not wallet.customer_id:
            return False
        person = self._store.profile(wallet.tenant_id, wallet.customer_id)
        return person is not None and wallet.wallet_id in person.joined_wallets
