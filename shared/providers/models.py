"""Provider-facing values: assets with their decimals, transactions, swaps and health samples."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

TEMPO, CIRCLE = "tempo", "circle"
# Preference order when every provider is equally healthy: Tempo first, Circle the fallback.
DEFAULT_ORDER: tuple[str, ...] = (TEMPO, CIRCLE)


class Asset(StrEnum):
    USDC = "USDC"
    USDT = "USDT"
    PYUSD = "PYUSD"
    EURC = "EURC"
    USDB = "USDB"

    @property
    def decimals(self) -> int:
        # Every supported stablecoin has 6 decimals on the chains we use.
        return 6


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"


def to_decimal_string(asset: Asset, amount_minor: int) -> str:
    """Minor units as a fixed-point decimal string in major units ("12.500000" -> "12.5" style kept exact)."""
    if amount_minor < 0:
        raise ValueError("amounts are never negative")
    text = f"{Decimal(amount_minor).scaleb(-asset.decimals):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def from_decimal_string(asset: Asset, text: str) -> int:
    """A major-units decimal string as exact minor units; too many decimals is ValueError."""
    amount = Decimal(text)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"not a valid amount: {text!r}")
    minor = amount.scaleb(asset.decimals)
    if minor != minor.to_integral_value():
        raise ValueError(f"{text!r} has more than {asset.decimals} decimals")
    return int(minor)


@dataclass(frozen=True)
class ProviderTx:
    """One confirmed (or accepted) movement at a provider. Amounts in minor units of `asset`."""

    provider: str
    tx_id: str
    tx_hash: str | None
    status: str
    asset: Asset
    amount_minor: int
    idempotency_key: str


@dataclass(frozen=True)
class SwapResult:
    provider: str
    tx_id: str
    tx_hash: str | None
    status: str
    from_asset: Asset
    to_asset: Asset
    amount_in_minor: int
    amount_out_minor: int
    rate: Decimal
    idempotency_key: str


@dataclass(frozen=True)
class HealthSample:
    """One health probe. `tps` and `error_rate` are present only when the provider reports them."""

    status: HealthStatus
    latency_ms: int
    tps: Decimal | None = None
    error_rate: Decimal | None = None
    error: str | None = None


@dataclass(frozen=True)
class Transfer:
    to_address: str
    amount_minor: int
