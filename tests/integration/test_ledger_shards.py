"""The ledger's running totals on moto: postings spread over LEDGER_SHARDS items, read back in one call."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest

from shared.adapters.dynamodb_ledger import SHARD_PK_PREFIX, DynamoDBLedger, shard_attribute
from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account
from shared.ledger.journal import Journal
from shared.ledger.movements import funding, refund
from shared.ledger.ports import PostOutcome
from shared.ledger.shards import ShardTotals, shard_of
from tests.integration.conftest import TABLE, scan_all
from tests.integration.test_reconcile_api import CountingClient
from tests.unit.ledger.fakes import InMemoryLedger
from tests.unit.ledger.test_ledger_properties import build

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SHARDS = 4


def mixed_postings(ledger: DynamoDBLedger, reference: InMemoryLedger) -> list[Journal]:
    """Fundings, payments, refunds and transfers over a few wallets, posted to both ledgers alike."""
    kinds = ["fund", "fund", "pay", "refund", "transfer", "withdraw"]
    wallets, tokens = ["wal_a", "wal_b", "wal_c"], ["USDC", "EURC"]
    posted, ids = [], count()
    for n in range(36):
        step = (kinds[n % 6], wallets[n % 3], tokens[n // 6 % 2], 500 + 37 * n, n % 4)
        journal = build(step, f"op-{next(ids)}")
        try:
            reference.post(journal)
        except InsufficientBalance:
            # The table refuses what the unsharded reference refuses: the guards did not move with sharding.
            with pytest.raises(InsufficientBalance):
                ledger.post(journal)
            continue
        assert ledger.post(journal) is PostOutcome.POSTED
        posted.append(journal)
    return posted


def test_postings_use_n_shards_and_the_sums_match_the_unsharded_ledger(dynamodb: Any) -> None:
    ledger, reference = DynamoDBLedger(dynamodb, TABLE, shards=SHARDS), InMemoryLedger()
    posted = mixed_postings(ledger, reference)
    assert 20 <= len(posted) < 36  # some refused, most posted

    items = scan_all(dynamodb)
    shard_items = {i["pk"]["S"]: i for i in items if i["pk"]["S"].startswith(SHARD_PK_PREFIX)}
    assert sorted(shard_items) == [f"{SHARD_PK_PREFIX}{n:02d}" for n in range(SHARDS)]
    # No item of the old layout: no unsharded totals, no item of a reserve, supply or outside-world account.
    assert not [i for i in items if i["pk"]["S"] == "LEDGER#TOTALS"]
    assert not [
        i for i in items if i["pk"]["S"].startswith(("LEDGER#ACCOUNT#reserve:", "LEDGER#ACCOUNT#supply:"))
    ]
    assert not [i for i in items if i["pk"]["S"].startswith("LEDGER#ACCOUNT#external:")]

    # Each shard item holds exactly the postings whose journal id names it.
    for n in range(SHARDS):
        mine = [ShardTotals.of(j) for j in posted if shard_of(j.id, SHARDS) == n]
        expected = sum(s.totals["USD"].journals for s in mine if "USD" in s.totals)
        stored = shard_items[f"{SHARD_PK_PREFIX}{n:02d}"].get(shard_attribute("USD", "journals"))
        assert int(stored["N"] if stored else 0) == expected

    assert ledger.totals() == reference.totals_of
    assert ledger.reserve_snapshot() == reference.reserve_snapshot()
    platform = [Account.reserve("USD"), Account.supply("EURC"), Account.external("stripe", "EUR")]
    wallets = [Account.wallet(w, t) for w in ("wal_a", "wal_b", "wal_c") for t in ("USDC", "EURC")]
    assert ledger.balances([*platform, *wallets]) == reference.balances([*platform, *wallets])
    # Another shard count reads the same sums: readers read every shard a writer may have used.
    assert DynamoDBLedger(dynamodb, TABLE, shards=1).totals() == reference.totals_of


def test_a_withdrawal_from_a_thin_shard_is_covered_by_the_wallet_not_the_shard(dynamodb: Any) -> None:
    ledger = DynamoDBLedger(dynamodb, TABLE, shards=SHARDS)
    fund = funding(
        operation_id="pi_1",
        wallet_id="wal_a",
        tenant_id="t",
        currency="USD",
        token="USDC",
        fiat_amount=1_000,
        created_at=NOW,
    )
    ledger.post(fund)
    ops = (f"re_{n}" for n in count())

    def refund_of(cents: int) -> Journal:
        while True:
            journal = refund(
                operation_id=next(ops),
                wallet_id="wal_a",
                token="USDC",
                currency="USD",
                token_amount=cents * 10_000,
                created_at=NOW,
            )
            if shard_of(journal.id, SHARDS) != shard_of(fund.id, SHARDS):
                return journal

    back = refund_of(400)
    ledger.post(back)  # its shard never saw a funding: the shard's slice of the reserve goes below zero
    thin = ledger.shard_of(back)
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"{SHARD_PK_PREFIX}{thin:02d}"}, "sk": {"S": "SHARD"}}
    )
    assert int(item["Item"][shard_attribute("reserve:fiat:USD", "balance")]["N"]) == -400
    assert (
        ledger.balance(Account.reserve("USD")) == 600 and ledger.balance(Account.supply("USDC")) == 6_000_000
    )

    before = scan_all(dynamodb)
    try:
        ledger.post(refund_of(601))  # more than the wallet holds: the wallet's own condition refuses it
    except InsufficientBalance as refused:
        assert refused.details == [
            {"field": "account", "message": "wallet:wal_a:USDC", "type": "insufficient_balance"}
        ]
    else:
        raise AssertionError("an overdraft went through")
    assert scan_all(dynamodb) == before


def test_reconciliation_reads_all_shards_in_one_call_whatever_the_shard_count(dynamodb: Any) -> None:
    calls: dict[int, Counter[str]] = {}
    for shards in (1, 10, 100):
        counting = CountingClient(dynamodb)
        ledger = DynamoDBLedger(counting, TABLE, shards=shards)
        for n in range(3):
            ledger.post(build(("fund", "wal_a", "USDC", 100, 0), f"pi_{shards}_{n}"))
        counting.calls.clear()
        snapshot = ledger.reserve_snapshot()
        calls[shards] = Counter(counting.calls)
        assert snapshot.balances[Account.reserve("USD")] == 100 * 3 * len(calls)
    assert calls[1] == calls[10] == calls[100] == Counter({"batch_get_item": 1})
