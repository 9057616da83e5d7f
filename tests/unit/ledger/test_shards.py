"""The running totals spread over shards add up to the unsharded ledger, whatever the shard count."""

from __future__ import annotations

from collections import Counter
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import Settings
from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account, AccountType
from shared.ledger.journal import JournalKind, journal_id_for
from shared.ledger.reserve import Status, reserve_report
from shared.ledger.shards import DEFAULT_SHARDS, MAX_SHARDS, ShardTotals, shard_of, sum_shards
from tests.unit.ledger.fakes import InMemoryLedger
from tests.unit.ledger.test_ledger_properties import Step, build, steps


@settings(max_examples=200, deadline=None)
@given(steps, st.integers(min_value=1, max_value=MAX_SHARDS))
def test_postings_spread_over_shards_sum_to_the_unsharded_totals(sequence: list[Step], shards: int) -> None:
    unsharded = InMemoryLedger()  # the reference: one running total per asset and per account
    by_shard: dict[int, ShardTotals] = {}
    ids = count()
    for step in sequence:
        journal = build(step, f"op-{next(ids)}")
        try:
            unsharded.post(journal)
        except InsufficientBalance:
            continue
        shard = shard_of(journal.id, shards)
        by_shard[shard] = by_shard.get(shard, ShardTotals()).plus(ShardTotals.of(journal))

    summed = sum_shards(by_shard.values())
    assert summed.totals == unsharded.totals_of
    platform = {a: b for a, b in unsharded.balance_of.items() if a.type.sharded}
    assert summed.balances == platform
    assert summed.snapshot() == unsharded.reserve_snapshot()
    for part in by_shard.values():
        # Each shard on its own holds whole postings: its books balance too. This is why a reader may
        # fetch the shards one by one (BatchGetItem) instead of in one transaction.
        assert reserve_report(part.snapshot(), {}).status is Status.BALANCED


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=MAX_SHARDS))
def test_a_journal_always_names_the_same_shard(journal_id: str, shards: int) -> None:
    assert shard_of(journal_id, shards) == shard_of(journal_id, shards)
    assert 0 <= shard_of(journal_id, shards) < shards


def test_shards_share_the_postings_evenly() -> None:
    postings = 2_000
    used = Counter(
        shard_of(journal_id_for(JournalKind.FUND, f"pi_{n}"), DEFAULT_SHARDS) for n in range(postings)
    )
    assert len(used) == DEFAULT_SHARDS
    # Binomial(2000, 1/10): sd about 13 postings; allow four of them around the 200 each shard expects.
    assert max(used.values()) <= postings / DEFAULT_SHARDS + 55


def test_shard_counts_out_of_range_are_refused() -> None:
    for bad in (0, MAX_SHARDS + 1):
        with pytest.raises(ValueError):
            shard_of("jrn_x", bad)
    assert Settings().ledger_shards == DEFAULT_SHARDS >= 10
    assert Settings.model_validate({"LEDGER_SHARDS": str(MAX_SHARDS)}).ledger_shards == MAX_SHARDS
    with pytest.raises(ValueError):
        Settings.model_validate({"LEDGER_SHARDS": str(MAX_SHARDS + 1)})


def test_only_the_platform_accounts_are_sharded_and_the_rest_are_guarded() -> None:
    sharded = {t for t in AccountType if t.sharded}
    assert sharded == {AccountType.RESERVE, AccountType.SUPPLY, AccountType.EXTERNAL}
    assert {t for t in AccountType if t.guarded} == set(AccountType) - sharded
    assert not any(t.keeps_statement for t in sharded)  # no statement lines to page across shards
    delta = ShardTotals.of(build(("fund", "wal_a", "USDC", 100, 5), "pi_1"))
    assert set(delta.balances) == {
        Account.reserve("USD"),
        Account.supply("USDC"),
        Account.external("stripe", "USD"),
    }
