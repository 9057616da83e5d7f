"""The ledger on moto with the stack's table: atomic postings, idempotency, guards, reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_table import to_item
from shared.errors import ConcurrentUpdate, InsufficientBalance, ValidationFailed
from shared.ledger.accounts import Account
from shared.ledger.journal import InvalidJournal, Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.movements import funding, payment, transfer
from shared.ledger.ports import PostOutcome
from shared.ledger.totals import AssetTotals
from tests.integration.conftest import TABLE, scan_all

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WALLET = Account.wallet("wal_a", "USDC")


def fund(ledger: DynamoDBLedger, wallet: str = "wal_a", cents: int = 10_000, op: str = "pi_1") -> Journal:
    journal = funding(
        operation_id=op,
        wallet_id=wallet,
        tenant_id="tenant-a",
        currency="USD",
        token="USDC",
        fiat_amount=cents,
        created_at=NOW,
        payment_intent_id=op,
    )
    assert ledger.post(journal) is PostOutcome.POSTED
    return journal


def wallet_state_change(status: str, expected: str | None) -> dict[str, Any]:
    """What the wallets slice would send: its wallet item's status change, guarded by the status it read."""
    update: dict[str, Any] = {
        "TableName": TABLE,
        "Key": {"pk": {"S": "WALLET#wal_a"}, "sk": {"S": "META"}},
        "UpdateExpression": "SET #s = :to",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":to": {"S": status}},
    }
    if expected:
        update["ConditionExpression"] = "#s = :expected"
        update["ExpressionAttributeValues"][":expected"] = {"S": expected}
    return {"Update": update}


@pytest.fixture
def ledger(dynamodb: Any) -> DynamoDBLedger:
    dynamodb.put_item(TableName=TABLE, Item=to_item({"pk": "WALLET#wal_a", "sk": "META", "status": "active"}))
    return DynamoDBLedger(dynamodb, TABLE)


def status_of(dynamodb: Any) -> str:
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "WALLET#wal_a"}, "sk": {"S": "META"}})["Item"]
    return str(item["status"]["S"])


def test_journal_and_the_callers_state_change_commit_together(ledger: DynamoDBLedger, dynamodb: Any) -> None:
    journal = funding(
        operation_id="pi_1",
        wallet_id="wal_a",
        tenant_id="tenant-a",
        currency="USD",
        token="USDC",
        fiat_amount=10_000,
        fee=290,
        created_at=NOW,
    )
    assert ledger.post(journal, also=[wallet_state_change("funded", "active")]) is PostOutcome.POSTED
    assert status_of(dynamodb) == "funded"
    assert ledger.balance(WALLET) == 100_000_000
    assert ledger.balance(Account.reserve("USD")) == 10_000
    assert ledger.balance(Account.external("stripe", "USD")) == 10_290
    assert ledger.journal(journal.id) == journal
    totals = ledger.totals()
    assert totals["USD"] == AssetTotals("USD", 1, 3, 10_290, 10_290, reserved=10_000)
    assert totals["USDC"] == AssetTotals("USDC", 1, 2, 100_000_000, 100_000_000, minted=100_000_000)
    snapshot = ledger.reserve_snapshot()
    assert snapshot.totals == totals
    assert snapshot.balances == {Account.reserve("USD"): 10_000, Account.supply("USDC"): 100_000_000}


def test_a_lost_state_condition_posts_nothing(ledger: DynamoDBLedger, dynamodb: Any) -> None:
    journal = funding(
        operation_id="pi_1",
        wallet_id="wal_a",
        tenant_id="tenant-a",
        currency="USD",
        token="USDC",
        fiat_amount=10_000,
        created_at=NOW,
    )
    before = scan_all(dynamodb)
    with pytest.raises(ConcurrentUpdate):
        ledger.post(journal, also=[wallet_state_change("funded", "destroyed")])
    assert scan_all(dynamodb) == before
    assert ledger.journal(journal.id) is None and ledger.totals() == {}


def test_a_journal_posts_once_however_often_it_is_sent(ledger: DynamoDBLedger, dynamodb: Any) -> None:
    journal = fund(ledger)
    before = scan_all(dynamodb)
    # The retry carries the same state change; the first attempt committed it, so nothing is applied twice.
    assert ledger.post(journal, also=[wallet_state_change("funded", "active")]) is PostOutcome.ALREADY_POSTED
    assert ledger.post(journal) is PostOutcome.ALREADY_POSTED
    assert scan_all(dynamodb) == before
    assert ledger.balance(WALLET) == 100_000_000 and ledger.totals()["USDC"].journals == 1


def test_a_journal_id_reused_for_other_entries_is_refused(ledger: DynamoDBLedger) -> None:
    first = fund(ledger)
    forged = Journal(
        first.id,
        first.kind,
        tuple(
            debit(e.account, e.amount) if e.signed < 0 else credit(e.account, e.amount) for e in first.entries
        ),
        NOW,
    )
    with pytest.raises(InvalidJournal, match="already posted"):
        ledger.post(forged)


def test_an_overdraft_is_refused_and_changes_nothing(ledger: DynamoDBLedger, dynamodb: Any) -> None:
    fund(ledger, cents=100)  # 1 USDC
    before = scan_all(dynamodb)
    pay = payment(
        operation_id="inv_1",
        wallet_id="wal_a",
        tenant_id="tenant-a",
        token="USDC",
        amount=1_000_001,
        created_at=NOW,
    )
    with pytest.raises(InsufficientBalance) as refused:
        ledger.post(pay, also=[wallet_state_change("payment_complete", "active")])
    assert refused.value.details[0]["message"] == "wallet:wal_a:USDC"
    assert scan_all(dynamodb) == before
    never_funded = transfer(
        operation_id="tr_1",
        source=Account.wallet("wal_zzz", "USDC"),
        destination=WALLET,
        amount=1,
        created_at=NOW,
    )
    with pytest.raises(InsufficientBalance):
        ledger.post(never_funded)
    assert scan_all(dynamodb) == before


def test_journals_too_big_for_one_transaction_are_refused_before_any_call(ledger: DynamoDBLedger) -> None:
    entries = (
        credit(Account.supply("USDC"), 30),
        *(debit(Account.wallet(f"wal_{n}", "USDC"), 1) for n in range(30)),
    )
    journal = Journal(journal_id_for(JournalKind.MINT, "m"), JournalKind.MINT, entries, NOW)
    assert journal.operation_count() == 1 + 30 + 30 + 1  # the supply is in the journal's shard
    extra = [wallet_state_change("funded", None)] * 40
    with pytest.raises(InvalidJournal, match="one transaction holds 100"):
        ledger.post(journal, also=extra)
    assert ledger.totals() == {}


def test_the_caller_may_not_write_ledger_items_itself(ledger: DynamoDBLedger) -> None:
    journal = funding(
        operation_id="pi_1",
        wallet_id="wal_a",
        tenant_id="t",
        currency="USD",
        token="USDC",
        fiat_amount=1,
        created_at=NOW,
    )
    sneaky = {"Put": {"TableName": TABLE, "Item": to_item({"pk": "LEDGER#TOTALS", "sk": "ASSET#USD"})}}
    with pytest.raises(InvalidJournal, match="only the ledger"):
        ledger.post(journal, also=[sneaky])


def test_statements_and_wallet_history_page_newest_first(ledger: DynamoDBLedger) -> None:
    ids = []
    for n in range(5):
        journal = funding(
            operation_id=f"pi_{n}",
            wallet_id="wal_a",
            tenant_id="t",
            currency="USD",
            token="USDC",
            fiat_amount=100 + n,
            created_at=NOW + timedelta(minutes=n),
        )
        ledger.post(journal)
        ids.append(journal.id)
    first = ledger.statement(WALLET, 3)
    assert [line.journal_id for line in first.lines] == ids[::-1][:3]
    assert first.lines[0].balance_change == 1_040_000 and first.next_cursor
    second = ledger.statement(WALLET, 3, first.next_cursor)
    assert [line.journal_id for line in second.lines] == ids[::-1][3:] and second.next_cursor is None
    history = ledger.wallet_history("wal_a", 10)
    assert [line.journal_id for line in history.lines] == ids[::-1]
    assert ledger.statement(Account.reserve("USD"), 5).lines == []  # platform accounts keep no lines
    with pytest.raises(ValidationFailed):
        ledger.wallet_history("wal_b", 3, first.next_cursor)
    with pytest.raises(ValidationFailed):
        ledger.statement(WALLET, 3, "not-a-cursor!")
