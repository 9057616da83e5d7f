"""Accounts, journals and the product's movements: what may be built, and what never can."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account, AccountType, Side
from shared.ledger.assets import GAP_DECIMALS, asset, fiat_to_token, token_to_fiat
from shared.ledger.journal import (
    MAX_TRANSACT_OPERATIONS,
    Entry,
    InvalidJournal,
    Journal,
    JournalKind,
    credit,
    debit,
    journal_id_for,
)
from shared.ledger.movements import funding, payment, refund, transfer, withdrawal
from shared.ledger.totals import apply_journal, totals_deltas

NOW = datetime(2030, 1, 1, tzinfo=UTC)
JID = journal_id_for(JournalKind.TRANSFER, "op-1")
WALLET = Account.wallet("wal_a", "USDC")
OTHER = Account.wallet("wal_b", "USDC")


def test_account_keys_round_trip_and_sides() -> None:
    for account in (
        Account.reserve("USD"),
        Account.supply("USDC"),
        WALLET,
        Account.settlement("tenant:a", "USDC"),
        Account.fees("tenant-a", "USD"),
        Account.external("stripe", "USD"),
    ):
        assert Account.parse(account.key) == account
    assert Account.reserve("USD").key == "reserve:fiat:USD"
    assert Account.parse("settlement:tenant:a:USDC").owner == "tenant:a"
    assert AccountType.RESERVE.normal_side is Side.DEBIT
    assert AccountType.SUPPLY.normal_side is Side.CREDIT
    assert not AccountType.EXTERNAL.guarded and AccountType.WALLET.guarded


@pytest.mark.parametrize(
    "build",
    [
        lambda: Account(AccountType.RESERVE, "fiat", "USDC"),
        lambda: Account(AccountType.RESERVE, "bank2", "USD"),
        lambda: Account(AccountType.SUPPLY, "token", "USD"),
        lambda: Account(AccountType.WALLET, "wal_a", "USD"),
        lambda: Account(AccountType.WALLET, "wal#a", "USDC"),
        lambda: Account(AccountType.WALLET, "wal_a", "DOGE"),
        lambda: Account.parse("wallet:USDC"),
        lambda: Account.parse("vault:x:USDC"),
    ],
)
def test_accounts_outside_the_chart_are_refused(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_journal_id_is_deterministic_per_operation_and_kind() -> None:
    assert journal_id_for(JournalKind.FUND, "pi_1") == journal_id_for(JournalKind.FUND, "pi_1")
    assert journal_id_for(JournalKind.FUND, "pi_1") != journal_id_for(JournalKind.REFUND, "pi_1")
    assert journal_id_for(JournalKind.FUND, "a", "bc") != journal_id_for(JournalKind.FUND, "ab", "c")
    assert len(journal_id_for(JournalKind.PAY, "x")) == 28
    with pytest.raises(InvalidJournal):
        journal_id_for(JournalKind.PAY)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((debit(WALLET, 5),), "at least two"),
        ((debit(WALLET, 5), credit(OTHER, 4)), "sum to 1"),
        ((debit(WALLET, 5), credit(WALLET, 5)), "appears twice"),
        # Zero overall but not per asset: 5 USDC cannot pay for 5 USD cents.
        ((debit(WALLET, 5), credit(Account.external("stripe", "USD"), 5)), "sum to"),
    ],
)
def test_unbalanced_or_degenerate_journals_are_refused(entries: tuple[Entry, ...], message: str) -> None:
    with pytest.raises(InvalidJournal, match=message):
        Journal(JID, JournalKind.TRANSFER, entries, NOW)


@pytest.mark.parametrize("amount", [0, -1, True, 10**18 + 1])
def test_entry_amounts_are_positive_integers(amount: int) -> None:
    with pytest.raises(InvalidJournal):
        debit(WALLET, amount)


def test_entry_refuses_a_float_amount() -> None:
    with pytest.raises(InvalidJournal):
        Entry(WALLET, Side.DEBIT, 1.5)  # type: ignore[arg-type]


def test_journal_fields_are_validated() -> None:
    entries = (debit(WALLET, 5), credit(OTHER, 5))
    with pytest.raises(InvalidJournal):
        Journal("jrn_short", JournalKind.TRANSFER, entries, NOW)
    with pytest.raises(InvalidJournal):
        Journal(JID, JournalKind.TRANSFER, entries, datetime(2030, 1, 1))
    with pytest.raises(InvalidJournal):
        Journal(JID, JournalKind.TRANSFER, entries, NOW, {"Bad-Key": "x"})
    with pytest.raises(InvalidJournal):
        Journal(JID, JournalKind.TRANSFER, entries, NOW, {"wallet_id": "wal#forged"})
    journal = Journal(JID, JournalKind.TRANSFER, entries, NOW, {"wallet_id": "wal_a"})
    assert journal.references["wallet_id"] == "wal_a"
    with pytest.raises(TypeError):
        journal.references["wallet_id"] = "other"  # type: ignore[index]


def test_a_journal_that_cannot_fit_one_transaction_is_refused() -> None:
    wallets = [Account.wallet(f"wal_{n}", "USDC") for n in range(40)]
    fits = (credit(Account.supply("USDC"), 40), *(debit(w, 1) for w in wallets))
    journal = Journal(JID, JournalKind.MINT, fits, NOW)
    # The journal, 40 wallet items, 40 statement lines, one running-totals shard (which holds the supply).
    assert journal.operation_count() == 1 + 40 + 40 + 1 <= MAX_TRANSACT_OPERATIONS
    more = [Account.wallet(f"wal_{n}", "USDC") for n in range(50)]
    with pytest.raises(InvalidJournal, match="split it"):
        Journal(
            JID, JournalKind.MINT, (credit(Account.supply("USDC"), 50), *(debit(w, 1) for w in more)), NOW
        )


def test_funding_reserves_fiat_and_mints_the_same_value() -> None:
    journal = funding(
        operation_id="pi_1",
        wallet_id="wal_a",
        tenant_id="tenant-a",
        currency="USD",
        token="USDC",
        fiat_amount=10_000,
        fee=290,
        created_at=NOW,
        payment_intent_id="pi_1",
    )
    assert journal.sums() == {"USD": 0, "USDC": 0}
    assert journal.id == journal_id_for(JournalKind.FUND, "pi_1")
    signed = {entry.account.key: entry.signed for entry in journal.entries}
    assert signed == {
        "external:stripe:USD": -10_290,
        "reserve:fiat:USD": 10_000,
        "fees:tenant-a:USD": 290,
        "supply:token:USDC": -100_000_000,
        "wallet:wal_a:USDC": 100_000_000,
    }
    deltas = totals_deltas(journal)
    assert (deltas["USD"].reserved, deltas["USDC"].minted) == (10_000, 100_000_000)
    balances = apply_journal({}, journal)
    assert balances[WALLET] == 100_000_000
    assert balances[Account.supply("USDC")] == 100_000_000
    assert balances[Account.external("stripe", "USD")] == 10_290


def test_payment_refund_withdrawal_and_transfer_balance_per_asset() -> None:
    pay = payment(
        operation_id="inv_1", wallet_id="wal_a", tenant_id="t", token="USDC", amount=60, fee=6, created_at=NOW
    )
    back = refund(
        operation_id="re_1",
        wallet_id="wal_a",
        token="USDC",
        currency="USD",
        token_amount=20_000,
        created_at=NOW,
    )
    out = withdrawal(
        operation_id="wd_1",
        wallet_id="wal_a",
        token="USDC",
        currency="USD",
        token_amount=10_000,
        created_at=NOW,
    )
    move = transfer(operation_id="tr_1", source=WALLET, destination=OTHER, amount=7, created_at=NOW)
    for journal in (pay, back, out, move):
        assert set(journal.sums().values()) == {0}
    assert totals_deltas(back)["USD"].refunded == 2 and totals_deltas(back)["USD"].withdrawn == 0
    assert totals_deltas(out)["USD"].withdrawn == 1 and totals_deltas(out)["USDC"].burned == 10_000
    with pytest.raises(ValueError, match="whole number"):
        refund(
            operation_id="re_2", wallet_id="w", token="USDC", currency="USD", token_amount=1, created_at=NOW
        )
    with pytest.raises(ValueError, match="fee"):
        payment(operation_id="p", wallet_id="w", tenant_id="t", token="USDC", amount=5, fee=5, created_at=NOW)


def test_apply_journal_refuses_an_overdraft_and_leaves_balances_alone() -> None:
    before = {WALLET: 5}
    move = transfer(operation_id="tr_1", source=WALLET, destination=OTHER, amount=6, created_at=NOW)
    with pytest.raises(InsufficientBalance):
        apply_journal(before, move)
    assert before == {WALLET: 5}
    # The outside world has no floor: a refund larger than what came in through one channel is history.
    out = Journal(
        JID,
        JournalKind.TRANSFER,
        (credit(Account.external("chain", "USDC"), 9), debit(OTHER, 9)),
        NOW,
    )
    assert apply_journal({}, out)[Account.external("chain", "USDC")] == 9


def test_asset_conversions_are_exact() -> None:
    assert fiat_to_token(1, "USD", "USDC") == 10_000
    assert token_to_fiat(10_000, "USDC", "USD") == 1
    assert asset("USDC").format(-1_500_000) == "-1.500000"
    assert asset("JPY").to_gap_units(3) == 3 * 10**GAP_DECIMALS
    with pytest.raises(ValueError):
        fiat_to_token(1, "EUR", "USDC")
