"""Reserve arithmetic and the reconciliation service, on in-memory ports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from shared.auth import Principal
from shared.clock import FixedClock
from shared.errors import Forbidden, ProviderUnavailable
from shared.ledger.accounts import Account
from shared.ledger.movements import funding, payment
from shared.ledger.reserve import Check, LedgerSnapshot, Status, format_gap, reserve_report
from shared.reserve.service import DISCREPANCY_EVENT, ReconciliationService
from tests.unit.ledger.fakes import InMemoryLedger, InMemoryReconciliations, RecordingMetrics, ScriptedSupply

NOW = datetime(2030, 3, 4, 2, 0, tzinfo=UTC)
ADMIN = Principal("admin-1", "tenant-a", frozenset({"admin"}))
OPERATOR = Principal("op-1", "platform", frozenset({"operator"}))
MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))


def funded_ledger() -> InMemoryLedger:
    ledger = InMemoryLedger()
    for n, (currency, token, cents) in enumerate(
        [("USD", "USDC", 10_000), ("USD", "USDT", 250), ("EUR", "EURC", 99)]
    ):
        ledger.post(
            funding(
                operation_id=f"pi_{n}",
                wallet_id=f"wal_{n}",
                tenant_id="tenant-a",
                currency=currency,
                token=token,
                fiat_amount=cents,
                fee=30,
                created_at=NOW,
            )
        )
    ledger.post(
        payment(
            operation_id="inv_1",
            wallet_id="wal_0",
            tenant_id="tenant-a",
            token="USDC",
            amount=5_000_000,
            created_at=NOW,
        )
    )
    return ledger


def test_a_consistent_ledger_is_balanced_per_currency() -> None:
    report = reserve_report(funded_ledger().reserve_snapshot(), {"USDC": 100_000_000, "USDT": 2_500_000})
    assert report.status is Status.BALANCED and report.gap == 0
    usd, eur = report.currency("USD"), report.currency("EUR")
    assert (usd.tokens_outstanding, usd.fiat_reserved) == (102_500_000, 10_250)
    assert (eur.tokens_outstanding, eur.fiat_reserved) == (990_000, 99)
    checks = report.checks()
    assert checks["reserve_backs_supply"] == "passed"
    assert checks["provider_supply"] == "unavailable"  # EURC had no answer
    assert report.unverified_tokens == ["EURC"]


def test_tampered_counters_balances_and_provider_answers_each_show_as_a_gap() -> None:
    snapshot = funded_ledger().reserve_snapshot()
    usdc = snapshot.totals["USDC"]
    minted_more = LedgerSnapshot(
        {**snapshot.totals, "USDC": replace(usdc, minted=usdc.minted + 7)}, snapshot.balances
    )
    report = reserve_report(minted_more, {})
    assert report.status is Status.DISCREPANCY
    assert report.checks()["reserve_backs_supply"] == "failed"
    assert report.checks()["ledger_sums_to_zero"] == "passed"
    assert report.checks()["accounts_match_totals"] == "failed"
    assert report.currency("USD").discrepancy == 7
    assert report.gap == 7 + 7  # reserve gap + supply account vs counters

    one_sided = LedgerSnapshot(
        {**snapshot.totals, "USDC": replace(usdc, credits=usdc.credits + 5)}, snapshot.balances
    )
    report = reserve_report(one_sided, {})
    assert report.checks()["ledger_sums_to_zero"] == "failed" and report.gap == 5

    drained = dict(snapshot.balances)
    drained[Account.reserve("USD")] -= 1
    assert reserve_report(LedgerSnapshot(snapshot.totals, drained), {}).gap == 10_000  # one cent

    report = reserve_report(snapshot, {"USDC": 100_000_001})
    assert report.status is Status.DISCREPANCY and report.gap == 1
    assert next(a for a in report.assets if a.code == "USDC").provider_check is Check.FAILED


def test_an_empty_ledger_is_balanced_and_reports_usd() -> None:
    report = reserve_report(LedgerSnapshot({}, {}), {})
    assert report.status is Status.BALANCED
    assert report.currency("USD").tokens_outstanding == 0
    assert format_gap(-1_500_000) == "-1.500000"


def service(
    ledger: InMemoryLedger, supply: ScriptedSupply | None = None
) -> tuple[ReconciliationService, InMemoryReconciliations, RecordingMetrics, FixedClock]:
    repository, metrics, clock = InMemoryReconciliations(), RecordingMetrics(), FixedClock(NOW)
    return ReconciliationService(ledger, repository, metrics, clock, supply), repository, metrics, clock


def test_balanced_run_records_the_day_without_event_or_metric() -> None:
    svc, repository, metrics, _ = service(funded_ledger(), ScriptedSupply({"USDC": 95_000_000 + 5_000_000}))
    record = svc.reconcile_on_schedule()
    assert record.status is Status.BALANCED
    assert record.date == date(2030, 3, 4) and record.trigger == "schedule"
    api = record.to_api()
    assert api["total_tokens_minted"] == "102.500000"
    assert api["total_fiat_reserved"] == "102.50"
    assert api["discrepancy"] == "0.000000"
    assert api["checks"]["provider_supply"] == "unavailable"  # USDT and EURC unanswered
    assert repository.outbox == [] and metrics.discrepancies == []
    assert metrics.unverified == [2]


def test_discrepancy_raises_the_event_and_the_metric_and_a_rerun_updates_the_day() -> None:
    ledger = funded_ledger()
    svc, repository, metrics, clock = service(ledger)
    ledger.balance_of[Account.reserve("USD")] -= 3
    ledger.totals_of["USD"] = replace(ledger.totals_of["USD"], withdrawn=3)
    record = svc.reconcile_on_request(OPERATOR)
    assert record.status is Status.DISCREPANCY and record.actor == "op-1"
    assert record.to_api()["discrepancy"] == "0.030000"  # tokens exceed the reserve by 3 cents
    assert metrics.discrepancies == [30_000]
    (event,) = repository.outbox
    assert event["event_name"] == DISCREPANCY_EVENT and event["channels"] == ["platform"]
    assert "tenant_id" not in event["data"] and event["data"]["currencies_failing"] == ["USD"]

    clock.advance(hours=3)
    again = svc.reconcile_on_schedule()
    assert again.runs == 2 and again.first_run_at == NOW and len(repository.records) == 1
    assert metrics.discrepancies == [30_000, 30_000]


@pytest.mark.parametrize("principal", [MERCHANT, ADMIN])
def test_only_operators_reconcile_or_read_the_history(principal: Principal) -> None:
    svc, repository, *_ = service(funded_ledger())
    with pytest.raises(Forbidden):
        svc.reconcile_on_request(principal)
    with pytest.raises(Forbidden):
        svc.history(principal, 10, None)
    assert repository.records == {}


def test_a_provider_outage_leaves_the_line_unavailable_not_failed() -> None:
    supply = ScriptedSupply(
        {"USDC": ProviderUnavailable("tempo is down"), "USDT": 2_500_000, "EURC": 990_000}
    )
    svc, repository, metrics, _ = service(funded_ledger(), supply)
    record = svc.reconcile_on_schedule()
    assert record.status is Status.BALANCED
    usdc = next(a for a in record.to_api()["assets"] if a["asset"] == "USDC")
    assert (usdc["provider_check"], usdc["provider_supply"]) == ("unavailable", None)
    assert repository.outbox == [] and metrics.unverified == [1]


def test_a_provider_mismatch_is_read_again_before_it_is_called_a_gap() -> None:
    ledger = funded_ledger()
    settling = ScriptedSupply({"USDC": [100_000_001, 100_000_000], "USDT": 2_500_000, "EURC": 990_000})
    svc, repository, _, _ = service(ledger, settling)
    assert svc.reconcile_on_schedule().status is Status.BALANCED
    assert ledger.snapshots == 2 and repository.outbox == []

    lasting = ScriptedSupply({"USDC": [100_000_001], "USDT": 2_500_000, "EURC": 990_000})
    svc, repository, metrics, _ = service(ledger, lasting)
    record = svc.reconcile_on_schedule()
    assert record.status is Status.DISCREPANCY and metrics.discrepancies == [1]
    assert record.to_api()["checks"]["provider_supply"] == "failed"
