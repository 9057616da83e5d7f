"""The assets the ledger counts: fiat currencies and the stablecoins each one backs 1:1."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.money import CURRENCY_MINOR_UNITS, minor_units

# Every gap the reconciliation measures is expressed in millionths of the major unit: the finest unit of
# any asset here, so neither a sub-cent token gap nor a fiat gap can round away.
GAP_DECIMALS = 6

# Stablecoin -> the fiat currency whose reserve backs it one to one.
STABLECOINS: dict[str, str] = {"USDC": "USD", "USDT": "USD", "PYUSD": "USD", "USDB": "USD", "EURC": "EUR"}
TOKEN_DECIMALS = 6


class AssetKind(StrEnum):
    FIAT = "fiat"
    TOKEN = "token"  # noqa: S105 - an asset kind, not a credential


@dataclass(frozen=True)
class Asset:
    code: str
    kind: AssetKind
    decimals: int
    backing: str | None = None
    """For a token, the fiat currency of the reserve that backs it; None for fiat."""

    def format(self, amount: int) -> str:
        """Minor units as the API's fixed-point decimal string, sign kept ("-0.50")."""
        return f"{Decimal(amount).scaleb(-self.decimals):.{self.decimals}f}"

    def to_gap_units(self, amount: int) -> int:
        """The amount in GAP_DECIMALS units, exact (every asset has at most that many decimals)."""
        return amount * _power_of_ten(GAP_DECIMALS - self.decimals)


def _power_of_ten(exponent: int) -> int:
    if exponent < 0:
        raise ValueError("an asset has more decimals than the ledger measures")
    return int(10**exponent)


def asset(code: str) -> Asset:
    """The asset named `code`, or ValueError for one the ledger does not know."""
    if code in STABLECOINS:
        return Asset(code, AssetKind.TOKEN, TOKEN_DECIMALS, STABLECOINS[code])
    if code in CURRENCY_MINOR_UNITS:
        return Asset(code, AssetKind.FIAT, minor_units(code))
    raise ValueError(f"unknown asset {code!r}")


def tokens_backed_by(currency: str) -> list[str]:
    return sorted(code for code, backing in STABLECOINS.items() if backing == currency)


def fiat_to_token(amount: int, currency: str, token: str) -> int:
    """Fiat minor units as the same value in `token` minor units (1:1 in major units, always exact)."""
    fiat, coin = asset(currency), asset(token)
    if coin.backing != fiat.code:
        raise ValueError(f"{token} is not backed by {currency}")
    return amount * _power_of_ten(coin.decimals - fiat.decimals)


def token_to_fiat(amount: int, token: str, currency: str) -> int:
    """Token minor units as fiat minor units; ValueError unless exact (dust cannot be paid out in fiat)."""
    fiat, coin = asset(currency), asset(token)
    if coin.backing != fiat.code:
        raise ValueError(f"{token} is not backed by {currency}")
    whole, dust = divmod(amount, _power_of_ten(coin.decimals - fiat.decimals))
    if dust:
        raise ValueError(f"{amount} {token} minor units is not a whole number of {currency} minor units")
    return whole
