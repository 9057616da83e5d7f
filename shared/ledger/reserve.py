"""The reserve's proof: tokens outstanding equal fiat reserved, the ledger sums to zero, providers agree.

Pure arithmetic over one consistent snapshot of the running totals and the reserve/supply account
balances, so its cost depends on the number of assets, never on the number of wallets. Every gap is
measured in GAP_DECIMALS units (millionths of the major unit), the finest unit any asset here has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.ledger.accounts import Account
from shared.ledger.assets import GAP_DECIMALS, AssetKind, asset, tokens_backed_by
from shared.ledger.totals import AssetTotals

# The currency of the API's top-level `total_tokens_minted`/`total_fiat_reserved`/`discrepancy`;
# every currency's figures are in `currencies`.
REPORTING_CURRENCY = "USD"


class Check(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    """The provider reported nothing (no reporter, or it was down): not proven either way."""


class Status(StrEnum):
    BALANCED = "balanced"
    DISCREPANCY = "discrepancy_detected"


@dataclass(frozen=True)
class LedgerSnapshot:
    """Running totals per asset and the balances of the reserve and supply accounts, read atomically."""

    totals: Mapping[str, AssetTotals]
    balances: Mapping[Account, int]

    @staticmethod
    def accounts_for(assets: list[str]) -> list[Account]:
        """The account each asset's counters must agree with: its reserve (fiat) or supply (token)."""
        return [
            Account.supply(code) if asset(code).kind is AssetKind.TOKEN else Account.reserve(code)
            for code in assets
        ]


@dataclass(frozen=True)
class AssetCheck:
    totals: AssetTotals
    account_balance: int
    """Balance of the asset's supply (token) or reserve (fiat) account item."""
    provider_supply: int | None = None
    """Tokens only: what the providers report in circulation; None when they could not say."""

    @property
    def code(self) -> str:
        return self.totals.asset

    @property
    def is_token(self) -> bool:
        return asset(self.code).kind is AssetKind.TOKEN

    @property
    def net(self) -> int:
        """Tokens outstanding (minted - burned) or fiat reserved (reserved - withdrawn - refunded)."""
        return self.totals.tokens_outstanding if self.is_token else self.totals.fiat_reserved

    @property
    def ledger_check(self) -> Check:
        return Check.PASSED if self.totals.imbalance == 0 else Check.FAILED

    @property
    def account_check(self) -> Check:
        return Check.PASSED if self.account_balance == self.net else Check.FAILED

    @property
    def provider_check(self) -> Check | None:
        if not self.is_token:
            return None
        if self.provider_supply is None:
            return Check.UNAVAILABLE
        return Check.PASSED if self.provider_supply == self.net else Check.FAILED

    @property
    def gap(self) -> int:
        """Absolute gap of this asset's own checks, in GAP_DECIMALS units."""
        minor = abs(self.totals.imbalance) + abs(self.account_balance - self.net)
        if self.is_token and self.provider_supply is not None:
            minor += abs(self.provider_supply - self.net)
        return asset(self.code).to_gap_units(minor)


@dataclass(frozen=True)
class CurrencyCheck:
    """One currency's reserve against every stablecoin it backs (USD against USDC, USDT, PYUSD, USDB)."""

    currency: str
    tokens_outstanding: int
    """In GAP_DECIMALS units, summed over the currency's stablecoins."""
    fiat_reserved: int
    """In the currency's minor units."""

    @property
    def discrepancy(self) -> int:
        """Tokens outstanding minus fiat reserved, GAP_DECIMALS units: positive means under-backed."""
        return self.tokens_outstanding - asset(self.currency).to_gap_units(self.fiat_reserved)

    @property
    def check(self) -> Check:
        return Check.PASSED if self.discrepancy == 0 else Check.FAILED


@dataclass(frozen=True)
class ReserveReport:
    assets: tuple[AssetCheck, ...]
    currencies: tuple[CurrencyCheck, ...]

    @property
    def gap(self) -> int:
        """Everything that does not add up, in GAP_DECIMALS units; the metric's value."""
        return sum(abs(c.discrepancy) for c in self.currencies) + sum(a.gap for a in self.assets)

    @property
    def status(self) -> Status:
        # Every failed check moves `gap` by its difference, and an unavailable provider adds nothing:
        # the status speaks for what could be proven, and the record says what could not.
        return Status.BALANCED if self.gap == 0 else Status.DISCREPANCY

    @property
    def unverified_tokens(self) -> list[str]:
        return [a.code for a in self.assets if a.provider_check is Check.UNAVAILABLE]

    def currency(self, code: str) -> CurrencyCheck:
        return next(c for c in self.currencies if c.currency == code)

    def checks(self) -> dict[str, str]:
        def worst(results: list[Check | None]) -> str:
            seen = [r for r in results if r is not None]
            for verdict in (Check.FAILED, Check.UNAVAILABLE):
                if verdict in seen:
                    return verdict.value
            return Check.PASSED.value

        return {
            "reserve_backs_supply": worst([c.check for c in self.currencies]),
            "ledger_sums_to_zero": worst([a.ledger_check for a in self.assets]),
            "accounts_match_totals": worst([a.account_check for a in self.assets]),
            "provider_supply": worst([a.provider_check for a in self.assets if a.is_token]),
        }


def reserve_report(snapshot: LedgerSnapshot, provider_supply: Mapping[str, int | None]) -> ReserveReport:
    """Check every asset in the snapshot and every currency that is, or backs, one of them."""
    checks = tuple(
        AssetCheck(
            totals,
            snapshot.balances.get(LedgerSnapshot.accounts_for([code])[0], 0),
            provider_supply.get(code) if asset(code).kind is AssetKind.TOKEN else None,
        )
        for code, totals in sorted(snapshot.totals.items())
    )
    currencies = {REPORTING_CURRENCY}
    for code in snapshot.totals:
        info = asset(code)
        currencies.add(info.backing if info.backing else info.code)
    by_code = {check.code: check for check in checks}
    lines = []
    for currency in sorted(currencies):
        outstanding = sum(
            asset(token).to_gap_units(by_code[token].net)
            for token in tokens_backed_by(currency)
            if token in by_code
        )
        fiat = by_code[currency].net if currency in by_code else 0
        lines.append(CurrencyCheck(currency, outstanding, fiat))
    return ReserveReport(checks, tuple(lines))


def format_gap(amount: int) -> str:
    """A gap as the API's fixed-point decimal string, in major units with GAP_DECIMALS places."""
    return f"{Decimal(amount).scaleb(-GAP_DECIMALS):.{GAP_DECIMALS}f}"
