"""Daily reserve reconciliation: prove the reserve backs the tokens, record the day once, raise the alarm."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from shared.auth import OPERATOR, Principal, require_role
from shared.clock import Clock
from shared.errors import WalletsError
from shared.ledger.assets import AssetKind, asset
from shared.ledger.ports import LedgerTotalsReader
from shared.ledger.reserve import (
    REPORTING_CURRENCY,
    AssetCheck,
    Check,
    LedgerSnapshot,
    ReserveReport,
    Status,
    format_gap,
    reserve_report,
)
from shared.outbox.records import Record, Resource, domain_event, iso
from shared.providers.models import Asset as ProviderAsset
from shared.providers.port import StablecoinProvider

logger = Logger()

DISCREPANCY_EVENT = "reserve:discrepancy"
# The reserve spans every tenant: its alarm goes to the operators' channel, never a tenant's `admin`.
DISCREPANCY_CHANNELS = ["platform"]
SCHEDULE_ACTOR = "schedule"


class SupplyReporter(Protocol):
    """Stablecoins in circulation as the providers report them (summed over providers)."""

    def total_supply(self, asset: str) -> int | None:
        """Minor units of `asset` the platform has outstanding at its providers; None if unknown now."""
        ...


class ProvidersSupply:
    """SupplyReporter over every configured provider: the SUM of their `total_supply(token)`.

    A token's tokens may sit at Tempo and at Circle at once (failover mints at the fallback), so the
    ledger's outstanding supply of a token is compared with what all providers report together. Any
    provider that cannot answer makes the token's line `unavailable` (None), never a false discrepancy;
    with no provider configured at all nothing can be proven, so None as well.

    The local stand-ins hold only what this platform minted, so locally the equality is exact. In
    production each provider must report the platform's OWN outstanding amount (its issuance account's
    minted - burned, or the sum over the platform's addresses): an issuer's global total supply of USDC
    would never equal one platform's ledger.
    """

    def __init__(self, providers: Callable[[], Mapping[str, StablecoinProvider]]) -> None:
        # A callable so that the adapters (and the secret holding their keys) are built on first use.
        self._providers = providers

    def total_supply(self, asset: str) -> int | None:
        try:
            token = ProviderAsset(asset)
        except ValueError:
            return None
        try:
            providers = self._providers()
        except WalletsError as exc:
            logger.warning("provider supply unavailable", extra={"asset": asset, "error": str(exc)})
            return None
        if not providers:
            return None
        total = 0
        for name, provider in sorted(providers.items()):
            try:
                total += provider.total_supply(token)
            except WalletsError as exc:
                logger.warning(
                    "provider supply unavailable", extra={"asset": asset, "provider": name, "error": str(exc)}
                )
                return None
        return total


class ReserveMetrics(Protocol):
    def discrepancy(self, gap: int) -> None:
        """Emit `ReserveDiscrepancy` with the absolute gap (millionths of the major unit)."""
        ...

    def unverified_supply(self, tokens: int) -> None: ...


@dataclass(frozen=True)
class Reconciliation:
    """One UTC day's record: the latest run's report; a rerun the same day replaces it and counts."""

    date: date
    report: ReserveReport
    trigger: str
    actor: str
    runs: int
    first_run_at: datetime
    last_run_at: datetime

    @property
    def status(self) -> Status:
        return self.report.status

    def to_api(self) -> dict[str, Any]:
        headline = self.report.currency(REPORTING_CURRENCY)
        fiat = asset(REPORTING_CURRENCY)
        return {
            "date": self.date.isoformat(),
            "status": self.status.value,
            "currency": REPORTING_CURRENCY,
            "total_tokens_minted": format_gap(headline.tokens_outstanding),
            "total_fiat_reserved": fiat.format(headline.fiat_reserved),
            "discrepancy": format_gap(headline.discrepancy),
            "total_gap": format_gap(self.report.gap),
            "checks": self.report.checks(),
            "currencies": [
                {
                    "currency": line.currency,
                    "tokens_outstanding": format_gap(line.tokens_outstanding),
                    "fiat_reserved": asset(line.currency).format(line.fiat_reserved),
                    "discrepancy": format_gap(line.discrepancy),
                    "check": line.check.value,
                }
                for line in self.report.currencies
            ],
            "assets": [_asset_api(check) for check in self.report.assets],
            "trigger": self.trigger,
            "runs": self.runs,
            "first_run_at": iso(self.first_run_at),
            "last_run_at": iso(self.last_run_at),
        }


def _asset_api(check: AssetCheck) -> dict[str, Any]:
    info, totals = asset(check.code), check.totals
    body: dict[str, Any] = {
        "asset": check.code,
        "kind": info.kind.value,
        "journals": totals.journals,
        "debits": info.format(totals.debits),
        "credits": info.format(totals.credits),
        "ledger_check": check.ledger_check.value,
        "account_check": check.account_check.value,
    }
    if info.kind is AssetKind.TOKEN:
        provider = check.provider_check
        body |= {
            "minted": info.format(totals.minted),
            "burned": info.format(totals.burned),
            "outstanding": info.format(totals.tokens_outstanding),
            "provider_supply": None if check.provider_supply is None else info.format(check.provider_supply),
            "provider_check": provider.value if provider else None,
        }
    else:
        body |= {
            "reserved": info.format(totals.reserved),
            "withdrawn": info.format(totals.withdrawn),
            "refunded": info.format(totals.refunded),
            "net_reserved": info.format(totals.fiat_reserved),
        }
    return body


@dataclass(frozen=True)
class ReconciliationPage:
    items: list[Reconciliation]
    next_cursor: str | None


class ReconciliationRepository(Protocol):
    def save(
        self,
        day: date,
        report: ReserveReport,
        trigger: str,
        actor: str,
        now: datetime,
        records: list[Record],
    ) -> Reconciliation:
        """Create or replace `day`'s record (one per day, runs counted) with `records` in one transaction."""
        ...

    def page(self, limit: int, cursor: str | None) -> ReconciliationPage:
        """Records newest day first; a cursor this repository did not issue is ValidationFailed."""
        ...


class ReconciliationService:
    def __init__(
        self,
        ledger: LedgerTotalsReader,
        repository: ReconciliationRepository,
        metrics: ReserveMetrics,
        clock: Clock,
        supply: SupplyReporter | None = None,
    ) -> None:
        self._ledger = ledger
        self._repository = repository
        self._metrics = metrics
        self._clock = clock
        self._supply = supply

    def reconcile_on_request(self, principal: Principal) -> Reconciliation:
        require_role(principal, OPERATOR)
        return self._reconcile("api", principal.sub)

    def reconcile_on_schedule(self) -> Reconciliation:
        return self._reconcile("schedule", SCHEDULE_ACTOR)

    def history(self, principal: Principal, limit: int, cursor: str | None) -> ReconciliationPage:
        require_role(principal, OPERATOR)
        return self._repository.page(limit, cursor)

    def _reconcile(self, trigger: str, actor: str) -> Reconciliation:
        report = self._report()
        if report.gap and report.checks()["provider_supply"] == Check.FAILED.value:
            # The providers and the ledger are read moments apart; a mint landing in between looks like a
            # gap. Read both once more before calling it one.
            report = self._report()
        now = self._clock.now()
        day = now.astimezone(UTC).date()
        records: list[Record] = []
        if report.status is Status.DISCREPANCY:
            records.append(
                domain_event(
                    DISCREPANCY_EVENT,
                    DISCREPANCY_CHANNELS,
                    _event_data(day, report),
                    now,
                    resource=Resource("reserve", day.isoformat()),
                )
            )
        stored = self._repository.save(day, report, trigger, actor, now, records)
        if report.status is Status.DISCREPANCY:
            self._metrics.discrepancy(report.gap)
            logger.error("reserve discrepancy", extra={"date": day.isoformat(), "gap": report.gap})
        if report.unverified_tokens:
            self._metrics.unverified_supply(len(report.unverified_tokens))
        return stored

    def _report(self) -> ReserveReport:
        snapshot: LedgerSnapshot = self._ledger.reserve_snapshot()
        tokens = [code for code in snapshot.totals if asset(code).kind is AssetKind.TOKEN]
        return reserve_report(snapshot, {code: self._supply_of(code) for code in tokens})

    def _supply_of(self, token: str) -> int | None:
        if self._supply is None:
            return None
        try:
            return self._supply.total_supply(token)
        except WalletsError as exc:
            # A provider outage must not stop the ledger's own checks; the line says `unavailable`.
            logger.warning("provider supply unavailable", extra={"asset": token, "error": exc.message})
            return None


def _event_data(day: date, report: ReserveReport) -> dict[str, Any]:
    headline = report.currency(REPORTING_CURRENCY)
    failing = [line.currency for line in report.currencies if line.check is Check.FAILED]
    return {
        "date": day.isoformat(),
        "status": report.status.value,
        "currency": REPORTING_CURRENCY,
        "discrepancy": format_gap(headline.discrepancy),
        "total_gap": format_gap(report.gap),
        "checks": report.checks(),
        "currencies_failing": failing,
        "assets_failing": [a.code for a in report.assets if a.gap],
    }
