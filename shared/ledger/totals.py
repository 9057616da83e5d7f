"""Running totals per asset, updated with every journal, so reconciliation reads a handful of items."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account, AccountType, Side
from shared.ledger.journal import Journal, JournalKind


@dataclass(frozen=True)
class AssetTotals:
    """Everything ever posted in one asset, as counters (all minor units, all only ever growing).

    `debits` and `credits` must stay equal (the ledger sums to zero). `minted`/`burned` are the credits and
    debits of the token's supply account; `reserved` the debits of a currency's reserve, and what left the
    reserve is `refunded` (a refund journal) or `withdrawn` (anything else).
    """

    asset: str
    journals: int = 0
    entries: int = 0
    debits: int = 0
    credits: int = 0
    minted: int = 0
    burned: int = 0
    reserved: int = 0
    withdrawn: int = 0
    refunded: int = 0

    @property
    def tokens_outstanding(self) -> int:
        return self.minted - self.burned

    @property
    def fiat_reserved(self) -> int:
        return self.reserved - self.withdrawn - self.refunded

    @property
    def imbalance(self) -> int:
        return self.debits - self.credits

    def plus(self, other: AssetTotals) -> AssetTotals:
        if other.asset != self.asset:
            raise ValueError("totals of different assets do not add up")
        counters = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)[1:]}
        return AssetTotals(self.asset, **counters)

    def counters(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)[1:]}


COUNTER_NAMES = tuple(f.name for f in fields(AssetTotals)[1:])


def totals_deltas(journal: Journal) -> dict[str, AssetTotals]:
    """What posting `journal` adds to each asset's running totals."""
    counters: dict[str, dict[str, int]] = {
        code: dict.fromkeys(COUNTER_NAMES, 0) | {"journals": 1} for code in journal.assets
    }
    for entry in journal.entries:
        add = counters[entry.account.asset]
        add["entries"] += 1
        add["debits" if entry.side is Side.DEBIT else "credits"] += entry.amount
        if entry.account.type is AccountType.SUPPLY:
            add["minted" if entry.side is Side.CREDIT else "burned"] += entry.amount
        elif entry.account.type is AccountType.RESERVE:
            if entry.side is Side.DEBIT:
                add["reserved"] += entry.amount
            elif journal.kind is JournalKind.REFUND:
                add["refunded"] += entry.amount
            else:
                add["withdrawn"] += entry.amount
    return {code: AssetTotals(code, **values) for code, values in counters.items()}


def apply_journal(balances: Mapping[Account, int], journal: Journal) -> dict[Account, int]:
    """The balances after `journal`, or InsufficientBalance if a guarded account would go below zero.

    The same rule the table enforces with one condition per account; this is its reference form.
    """
    after = dict(balances)
    for entry in journal.entries:
        balance = after.get(entry.account, 0) + entry.balance_change
        if entry.account.type.guarded and balance < 0:
            raise InsufficientBalance(
                f"{entry.account.key} cannot cover {entry.amount}",
                [{"field": "account", "message": entry.account.key, "type": "insufficient_balance"}],
            )
        after[entry.account] = balance
    return after
