"""What the ledger's services depend on: posting journals atomically and reading balances and totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.ledger.accounts import Account, Side
from shared.ledger.journal import Journal, JournalKind
from shared.ledger.reserve import LedgerSnapshot
from shared.ledger.totals import AssetTotals


class PostOutcome(StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already_posted"
    """The journal id was posted before (with the same entries): a retry, and the earlier transaction
    already committed everything that travelled with it. Treat it as success."""


@dataclass(frozen=True)
class StatementLine:
    """One journal's effect on one account (kept for wallets, settlements and fees)."""

    journal_id: str
    kind: JournalKind
    account: Account
    side: Side
    amount: int
    balance_change: int
    created_at: datetime
    references: Mapping[str, str]


@dataclass(frozen=True)
class StatementPage:
    lines: list[StatementLine]
    next_cursor: str | None


class LedgerTotalsReader(Protocol):
    """The read a reconciliation needs; it costs the same however many wallets exist."""

    def reserve_snapshot(self) -> LedgerSnapshot:
        """Every asset's running totals and its reserve/supply balance, read in one atomic snapshot (a
        posting is either wholly in it or wholly out of it)."""
        ...


class LedgerStore(LedgerTotalsReader, Protocol):
    """Journals posted atomically with the balances, statement lines and totals they change.

    `post(journal, also)` commits `also` (the caller's own state changes, in the store's native operation
    form) in the same transaction: all of it or none of it. A guarded account that would go below zero
    raises errors.InsufficientBalance; a lost condition among `also` raises errors.ConcurrentUpdate (read
    again and decide again); a journal that cannot fit one transaction raises InvalidJournal.
    """

    def post(self, journal: Journal, also: Sequence[Any] = ()) -> PostOutcome: ...

    def balance(self, account: Account) -> int: ...

    def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        """Balances of the given accounts (strongly consistent); an account never posted to is 0."""
        ...

    def totals(self) -> dict[str, AssetTotals]:
        """Running totals of every asset ever posted (strongly consistent)."""
        ...

    def journal(self, journal_id: str) -> Journal | None: ...

    def statement(self, account: Account, limit: int, cursor: str | None = None) -> StatementPage:
        """The account's lines, newest first."""
        ...

    def wallet_history(self, wallet_id: str, limit: int, cursor: str | None = None) -> StatementPage:
        """Every line of the wallet in every asset, newest first."""
        ...
