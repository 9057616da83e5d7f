"""Running totals split over shards: a posting moves only its journal's shard, readers add the shards up.

Why: the platform accounts (reserve, supply, the outside world) and the per-asset counters move with nearly
every posting, and one DynamoDB item takes about 1,000 writes a second. So each posting adds its whole
effect on them to ONE shard, picked from its journal id, and a read sums every shard.

Two properties make this safe:
- The shard is a pure function of the journal id, so a retry of a posting names the same shard; and even
  a retry under another shard count cannot count twice, since the journal item's own condition refuses it.
- A posting's whole effect on the running totals (every asset's counters and every platform account's
  balance) lands in one shard item, in the same transaction as its journal. So any set of shard items,
  even read one by one, adds up to a set of whole postings: the reconciliation's equalities hold shard by
  shard, hence for every sum of shards, without a transactional read across them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.ledger.accounts import Account
from shared.ledger.journal import Journal
from shared.ledger.reserve import LedgerSnapshot
from shared.ledger.totals import AssetTotals, totals_deltas

# Readers fetch every shard in one BatchGetItem, which holds 100 keys: the most shards there may be.
MAX_SHARDS = 100
DEFAULT_SHARDS = 10


def shard_of(journal_id: str, shards: int) -> int:
    """The shard that posting `journal_id` moves: stable across processes and retries (never `hash()`)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {shards}")
    digest = hashlib.sha256(journal_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True)
class ShardTotals:
    """The running totals one shard holds (or a sum of shards): counters per asset, and the balances of
    the sharded platform accounts (`AccountType.sharded`), on their normal side."""

    totals: Mapping[str, AssetTotals] = field(default_factory=dict)
    balances: Mapping[Account, int] = field(default_factory=dict)

    @classmethod
    def of(cls, journal: Journal) -> ShardTotals:
        """What posting `journal` adds to its shard."""
        balances = {e.account: e.balance_change for e in journal.entries if e.account.type.sharded}
        return cls(totals_deltas(journal), balances)

    def plus(self, other: ShardTotals) -> ShardTotals:
        totals = dict(self.totals)
        for code, delta in other.totals.items():
            totals[code] = totals[code].plus(delta) if code in totals else delta
        balances = dict(self.balances)
        for account, change in other.balances.items():
            balances[account] = balances.get(account, 0) + change
        return ShardTotals(totals, balances)

    def snapshot(self) -> LedgerSnapshot:
        """The reconciliation's view: every asset's counters and its reserve or supply balance."""
        accounts = LedgerSnapshot.accounts_for(sorted(self.totals))
        return LedgerSnapshot(dict(self.totals), {a: self.balances.get(a, 0) for a in accounts})


def sum_shards(shards: Iterable[ShardTotals]) -> ShardTotals:
    total = ShardTotals()
    for shard in shards:
        total = total.plus(shard)
    return total
