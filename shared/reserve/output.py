"""The reconcile routes' answers (the envelope's `data`), as `Reconciliation.to_api` writes them."""

from shared.models.output import Output, Page


class ReserveChecks(Output):
    reserve_backs_supply: str
    ledger_sums_to_zero: str
    accounts_match_totals: str
    provider_supply: str


class CurrencyLine(Output):
    currency: str
    tokens_outstanding: str
    fiat_reserved: str
    discrepancy: str
    check: str


class AssetLine(Output):
    """One asset's ledger totals and checks: a token carries its supply lines, a fiat currency its reserve
    lines (the other kind's fields are absent)."""

    asset: str
    kind: str
    journals: int
    debits: str
    credits: str
    ledger_check: str
    account_check: str
    minted: str | None = None
    burned: str | None = None
    outstanding: str | None = None
    provider_supply: str | None = None
    provider_check: str | None = None
    reserved: str | None = None
    withdrawn: str | None = None
    refunded: str | None = None
    net_reserved: str | None = None


class ReconciliationOut(Output):
    """One UTC day's reconciliation (a rerun the same day replaces it and counts)."""

    date: str
    status: str
    currency: str
    total_tokens_minted: str
    total_fiat_reserved: str
    discrepancy: str
    total_gap: str
    checks: ReserveChecks
    currencies: list[CurrencyLine]
    assets: list[AssetLine]
    trigger: str
    runs: int
    first_run_at: str
    last_run_at: str


class ReconciliationPage(Page):
    reconciliations: list[ReconciliationOut]
