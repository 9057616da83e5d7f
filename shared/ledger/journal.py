"""Journals: a movement of value as entries that sum to zero per asset, validated when built."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from shared.ledger.accounts import Account, AccountType, Side

# DynamoDB's limit on one TransactWriteItems; a journal and its caller's items must fit in one.
MAX_TRANSACT_OPERATIONS = 100
# Far above any real amount (1e9 major units in 6 decimals is 1e15) and far below DynamoDB's 38 digits.
MAX_ENTRY_AMOUNT = 10**18
MAX_REFERENCES = 10
_JOURNAL_ID = re.compile(r"^jrn_[0-9a-z]{24}$")
_REFERENCE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_REFERENCE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@|+/=-]{0,255}$")
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class InvalidJournal(ValueError):
    """A journal that can never be posted: the caller built it wrong (a bug, not a user error)."""


class JournalKind(StrEnum):
    FUND = "fund"
    """Fiat in through a payment channel into the reserve, and the same value minted to a wallet."""
    MINT = "mint"
    PAY = "pay"
    """Tokens from a wallet to a merchant's settlement (and fees)."""
    REFUND = "refund"
    """Excess burned from a wallet and the same fiat paid back out of the reserve to the payer."""
    BURN = "burn"
    FEE = "fee"
    WITHDRAW = "withdraw"
    """Tokens burned and the same fiat paid out of the reserve to a bank."""
    TRANSFER = "transfer"
    """Tokens between accounts (P2P, forwarding a destroyed wallet's remainder)."""
    SWAP = "swap"
    """One stablecoin burned and another minted for it, the reserve moving between their backing currencies
    through the foreign-exchange counterparty (`external:fx:{currency}`)."""


@dataclass(frozen=True)
class Entry:
    account: Account
    side: Side
    amount: int

    def __post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise InvalidJournal(f"unknown side {self.side!r}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidJournal("entry amounts are integers of minor units")
        if not 0 < self.amount <= MAX_ENTRY_AMOUNT:
            raise InvalidJournal(f"entry amount must be in 1..{MAX_ENTRY_AMOUNT}, got {self.amount}")

    @property
    def signed(self) -> int:
        """Debits positive, credits negative."""
        return self.amount if self.side is Side.DEBIT else -self.amount

    @property
    def balance_change(self) -> int:
        """How much the account's (normal-side) balance moves: positive on its normal side."""
        return self.amount if self.side is self.account.type.normal_side else -self.amount


def debit(account: Account, amount: int) -> Entry:
    return Entry(account, Side.DEBIT, amount)


def credit(account: Account, amount: int) -> Entry:
    return Entry(account, Side.CREDIT, amount)


def journal_id_for(kind: JournalKind, *business_keys: str) -> str:
    """A journal id derived from the business operation (e.g. the PaymentIntent id): a retry of the same
    operation builds the same id, and the table refuses a journal id twice."""
    if not business_keys or not all(isinstance(key, str) and key for key in business_keys):
        raise InvalidJournal("a deterministic journal id needs at least one non-empty business key")
    digest = hashlib.sha256("\x1f".join((kind.value, *business_keys)).encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(24):
        number, index = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "jrn_" + "".join(chars)


@dataclass(frozen=True)
class Journal:
    id: str
    kind: JournalKind
    entries: tuple[Entry, ...]
    created_at: datetime
    references: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _JOURNAL_ID.fullmatch(self.id):
            raise InvalidJournal(f"journal id {self.id!r} is not jrn_ + 24 lowercase alphanumerics")
        if not isinstance(self.kind, JournalKind):
            raise InvalidJournal(f"unknown journal kind {self.kind!r}")
        if self.created_at.tzinfo is None:
            raise InvalidJournal("created_at must be timezone-aware")
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "references", MappingProxyType(dict(self.references)))
        self._check_entries()
        self._check_references()
        if self.operation_count() > MAX_TRANSACT_OPERATIONS:
            raise InvalidJournal(
                f"journal needs {self.operation_count()} table operations; one transaction holds "
                f"{MAX_TRANSACT_OPERATIONS}: split it"
            )

    def _check_entries(self) -> None:
        if len(self.entries) < 2:
            raise InvalidJournal("a journal has at least two entries")
        if not all(isinstance(entry, Entry) for entry in self.entries):
            raise InvalidJournal("entries must be Entry values")
        accounts = [entry.account for entry in self.entries]
        if len(set(accounts)) != len(accounts):
            # One transaction may touch an item once, and a balance guard must see the account's net move.
            raise InvalidJournal("an account appears twice in one journal: net its entries first")
        for code, total in self.sums().items():
            if total != 0:
                raise InvalidJournal(f"entries in {code} sum to {total}, not zero")

    def _check_references(self) -> None:
        if len(self.references) > MAX_REFERENCES:
            raise InvalidJournal(f"at most {MAX_REFERENCES} references")
        for key, ref in self.references.items():
            if not isinstance(key, str) or not _REFERENCE_KEY.fullmatch(key):
                raise InvalidJournal(f"reference name {key!r} must be snake_case")
            if not isinstance(ref, str) or not _REFERENCE_VALUE.fullmatch(ref):
                raise InvalidJournal(f"reference {key} has an unsafe value")

    def sums(self) -> dict[str, int]:
        """Signed sum of the entries per asset (zero for every valid journal)."""
        totals: dict[str, int] = {}
        for entry in self.entries:
            totals[entry.account.asset] = totals.get(entry.account.asset, 0) + entry.signed
        return totals

    @property
    def assets(self) -> list[str]:
        return sorted({entry.account.asset for entry in self.entries})

    def statement_entries(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.account.type.keeps_statement]

    def operation_count(self) -> int:
        """Table operations posting takes: the journal, one per account with its own item, one per
        statement line, and one update of its running-totals shard (every asset's counters and every
        sharded platform account at once)."""
        own_items = [entry for entry in self.entries if not entry.account.type.sharded]
        return 1 + len(own_items) + len(self.statement_entries()) + 1

    def wallet_ids(self) -> list[str]:
        return sorted({e.account.owner for e in self.entries if e.account.type is AccountType.WALLET})


def new_journal(
    journal_id: str,
    kind: JournalKind,
    entries: Sequence[Entry],
    created_at: datetime,
    **references: str,
) -> Journal:
    return Journal(journal_id, kind, tuple(entries), created_at, references)
