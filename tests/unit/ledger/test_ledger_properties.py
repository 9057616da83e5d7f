"""Property tests of the ledger's invariants over random sequences of the product's movements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account, AccountType
from shared.ledger.assets import asset, fiat_to_token
from shared.ledger.journal import Journal
from shared.ledger.movements import funding, payment, refund, transfer, withdrawal
from shared.ledger.ports import PostOutcome
from shared.ledger.reserve import Status, reserve_report
from shared.ledger.totals import AssetTotals, apply_journal, totals_deltas
from tests.unit.ledger.fakes import InMemoryLedger

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WALLETS = ("wal_a", "wal_b", "wal_c")
TOKENS = {"USDC": "USD", "USDT": "USD", "EURC": "EUR"}
CENT = 10_000  # USDC minor units in one cent

Step = tuple[str, str, str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["fund", "pay", "refund", "withdraw", "transfer"]),
        st.sampled_from(WALLETS),
        st.sampled_from(sorted(TOKENS)),
        st.integers(min_value=1, max_value=50_000),
        st.integers(min_value=0, max_value=300),
    ),
    max_size=40,
)


def build(step: Step, operation: str) -> Journal:
    kind, wallet, token, amount, fee = step
    currency = TOKENS[token]
    if kind == "fund":
        return funding(
            operation_id=operation,
            wallet_id=wallet,
            tenant_id="tenant-a",
            currency=currency,
            token=token,
            fiat_amount=amount,
            fee=fee,
            created_at=NOW,
        )
    if kind == "pay":
        return payment(
            operation_id=operation,
            wallet_id=wallet,
            tenant_id="tenant-a",
            token=token,
            amount=amount * CENT,
            fee=min(fee, amount - 1) * CENT,
            created_at=NOW,
        )
    if kind in ("refund", "withdraw"):
        build_out: Callable[..., Journal] = refund if kind == "refund" else withdrawal
        return build_out(
            operation_id=operation,
            wallet_id=wallet,
            token=token,
            currency=currency,
            token_amount=amount * CENT,
            created_at=NOW,
        )
    destination = WALLETS[(WALLETS.index(wallet) + 1) % len(WALLETS)]
    return transfer(
        operation_id=operation,
        source=Account.wallet(wallet, token),
        destination=Account.wallet(destination, token),
        amount=amount * CENT,
        created_at=NOW,
    )


def replay(journals: list[Journal]) -> tuple[dict[Account, int], dict[str, AssetTotals]]:
    balances: dict[Account, int] = {}
    totals: dict[str, AssetTotals] = {}
    for journal in journals:
        for entry in journal.entries:
            balances[entry.account] = balances.get(entry.account, 0) + entry.balance_change
        for code, delta in totals_deltas(journal).items():
            totals[code] = totals.get(code, AssetTotals(code)).plus(delta)
    return balances, totals


@settings(max_examples=200, deadline=None)
@given(steps)
def test_any_sequence_of_movements_keeps_every_invariant(sequence: list[Step]) -> None:
    ledger = InMemoryLedger()
    posted: list[Journal] = []
    ids = count()
    for step in sequence:
        journal = build(step, f"op-{next(ids)}")
        assert set(journal.sums().values()) == {0}
        before = (dict(ledger.balance_of), dict(ledger.totals_of))
        try:
            ledger.post(journal)
        except InsufficientBalance:
            assert (ledger.balance_of, ledger.totals_of) == before, "a refused journal changed something"
            continue
        posted.append(journal)

        assert all(value >= 0 for account, value in ledger.balance_of.items() if account.type.guarded)
        # No condition guards the reserve or supply (they are sums of shards): the wallets' guards must
        # keep them from going below zero by themselves (AccountType.guarded says why they do).
        platform = (AccountType.RESERVE, AccountType.SUPPLY)
        assert all(value >= 0 for account, value in ledger.balance_of.items() if account.type in platform)
        balances, totals = replay(posted)
        assert ledger.balance_of == balances
        assert ledger.totals_of == totals
        for code, total in ledger.totals_of.items():
            assert total.imbalance == 0
            if asset(code).kind.value == "token":
                assert ledger.balance(Account.supply(code)) == total.tokens_outstanding
            else:
                assert ledger.balance(Account.reserve(code)) == total.fiat_reserved
        for currency in ("USD", "EUR"):
            fiat = ledger.totals_of.get(currency, AssetTotals(currency)).fiat_reserved
            tokens = sum(
                ledger.totals_of.get(token, AssetTotals(token)).tokens_outstanding
                for token, backing in TOKENS.items()
                if backing == currency
            )
            # minted - burned == reserved - withdrawn, in the same unit.
            assert tokens == fiat_to_token(fiat, currency, "USDC" if currency == "USD" else "EURC")
        report = reserve_report(ledger.reserve_snapshot(), {})
        assert report.status is Status.BALANCED and report.gap == 0


@settings(max_examples=100, deadline=None)
@given(steps)
def test_reposting_posted_journals_is_a_no_op(sequence: list[Step]) -> None:
    ledger = InMemoryLedger()
    posted = []
    for n, step in enumerate(sequence):
        journal = build(step, f"op-{n}")
        try:
            ledger.post(journal)
        except InsufficientBalance:
            continue
        posted.append(journal)
    after_first = (dict(ledger.balance_of), dict(ledger.totals_of), len(ledger.lines))
    assert all(ledger.post(journal) is PostOutcome.ALREADY_POSTED for journal in posted)
    assert (ledger.balance_of, ledger.totals_of, len(ledger.lines)) == after_first


@given(st.integers(min_value=1, max_value=10**9), st.sampled_from(sorted(TOKENS)))
def test_apply_journal_never_leaves_a_guarded_account_negative(amount: int, token: str) -> None:
    wallet = Account.wallet("wal_a", token)
    move = transfer(
        operation_id="x",
        source=wallet,
        destination=Account.wallet("wal_b", token),
        amount=amount,
        created_at=NOW,
    )
    held = amount - 1
    try:
        apply_journal({wallet: held}, move)
    except InsufficientBalance:
        return
    raise AssertionError("an overdraft went through")
