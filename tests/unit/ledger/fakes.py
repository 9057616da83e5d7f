"""In-memory ports of the ledger and reconciliation, with the table's semantics (all or nothing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from shared.ledger.accounts import Account
from shared.ledger.journal import InvalidJournal, Journal
from shared.ledger.ports import PostOutcome, StatementLine, StatementPage
from shared.ledger.reserve import LedgerSnapshot, ReserveReport
from shared.ledger.totals import AssetTotals, apply_journal, totals_deltas
from shared.reserve.service import Reconciliation, ReconciliationPage
from tests.support.events import as_items


class InMemoryLedger:
    """LedgerStore in memory. `also` holds callables run inside the "transaction": one raising aborts all."""

    def __init__(self) -> None:
        self.journals: dict[str, Journal] = {}
        self.balance_of: dict[Account, int] = {}
        self.totals_of: dict[str, AssetTotals] = {}
        self.lines: list[StatementLine] = []
        self.snapshots = 0

    def post(self, journal: Journal, also: Sequence[Callable[[], None]] = ()) -> PostOutcome:
        if journal.id in self.journals:
            if set(self.journals[journal.id].entries) != set(journal.entries):
                raise InvalidJournal("journal id reused with other entries")
            return PostOutcome.ALREADY_POSTED
        balances = apply_journal(self.balance_of, journal)
        for change in also:
            change()
        self.balance_of = balances
        for code, delta in totals_deltas(journal).items():
            self.totals_of[code] = self.totals_of.get(code, AssetTotals(code)).plus(delta)
        self.journals[journal.id] = journal
        self.lines += [
            StatementLine(
                journal.id,
                journal.kind,
                e.account,
                e.side,
                e.amount,
                e.balance_change,
                journal.created_at,
                journal.references,
            )
            for e in journal.statement_entries()
        ]
        return PostOutcome.POSTED

    def balance(self, account: Account) -> int:
        return self.balance_of.get(account, 0)

    def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        return {account: self.balance(account) for account in accounts}

    def totals(self) -> dict[str, AssetTotals]:
        return dict(self.totals_of)

    def reserve_snapshot(self) -> LedgerSnapshot:
        self.snapshots += 1
        assets = sorted(self.totals_of)
        return LedgerSnapshot(self.totals(), self.balances(LedgerSnapshot.accounts_for(assets)))

    def journal(self, journal_id: str) -> Journal | None:
        return self.journals.get(journal_id)

    def statement(self, account: Account, limit: int, cursor: str | None = None) -> StatementPage:
        lines = [line for line in reversed(self.lines) if line.account == account]
        return StatementPage(lines[:limit], None)

    def wallet_history(self, wallet_id: str, limit: int, cursor: str | None = None) -> StatementPage:
        lines = [line for line in reversed(self.lines) if line.account.owner == wallet_id]
        return StatementPage(lines[:limit], None)


class InMemoryReconciliations:
    def __init__(self) -> None:
        self.records: dict[date, Reconciliation] = {}
        self.outbox: list[dict[str, Any]] = []

    def save(
        self,
        day: date,
        report: ReserveReport,
        trigger: str,
        actor: str,
        now: datetime,
        records: list[dict[str, Any]],
    ) -> Reconciliation:
        previous = self.records.get(day)
        stored = Reconciliation(
            day,
            report,
            trigger,
            actor,
            (previous.runs if previous else 0) + 1,
            previous.first_run_at if previous else now,
            now,
        )
        self.records[day] = stored
        self.outbox += as_items(records)
        return stored

    def page(self, limit: int, cursor: str | None) -> ReconciliationPage:
        ordered = sorted(self.records.values(), key=lambda r: r.date, reverse=True)
        return ReconciliationPage(ordered[:limit], None)


class RecordingMetrics:
    def __init__(self) -> None:
        self.discrepancies: list[int] = []
        self.unverified: list[int] = []

    def discrepancy(self, gap: int) -> None:
        self.discrepancies.append(gap)

    def unverified_supply(self, tokens: int) -> None:
        self.unverified.append(tokens)


class ScriptedSupply:
    """Provider supply per token; a list gives successive answers, an exception is raised."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self._answers = answers
        self.calls: list[str] = []

    def total_supply(self, asset: str) -> int | None:
        self.calls.append(asset)
        answer = self._answers.get(asset)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        return answer
