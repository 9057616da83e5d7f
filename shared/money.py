"""Money parsing and arithmetic on Decimal: request amounts, currency minor units, rounding to cents."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

MAX_AMOUNT = Decimal("1000000000")
FIAT_DECIMALS = 2
TOKEN_DECIMALS = 6
# The one textual form of a request amount: plain decimal digits, no sign, exponent, blank or leading zero.
# The OpenAPI document states the same form (shared/models/common.py), so what it calls valid is accepted.
_DECIMAL_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")


def _load_currencies() -> dict[str, int]:
    raw = json.loads(resources.files("shared.data").joinpath("iso4217.json").read_text(encoding="utf-8"))
    return {code: int(units) for code, units in raw.items() if not code.startswith("_")}


CURRENCY_MINOR_UNITS: dict[str, int] = _load_currencies()


def minor_units(currency: str) -> int:
    """Decimal places of `currency`, capped at the contract's 2 for fiat."""
    return min(CURRENCY_MINOR_UNITS[currency], FIAT_DECIMALS)


def decimals_of(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def parse_amount(value: Any, max_decimals: int = FIAT_DECIMALS) -> Decimal:
    """A request amount (JSON number or decimal string, major units) as a Decimal, or ValueError.

    Floats are refused outright: the API parses JSON numbers as Decimal, so a float here means a caller
    bypassed that and precision may already be lost.
    """
    if isinstance(value, bool | float):
        raise ValueError("amount must be a JSON number or a decimal string")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError("amount must be a decimal number such as 100.50")
        amount = Decimal(value)
    else:
        raise ValueError("amount must be a JSON number or a decimal string")
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount <= 0:
        raise ValueError("amount must be greater than 0")
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT}")
    if decimals_of(amount) > max_decimals:
        raise ValueError(f"amount must have at most {max_decimals} decimals")
    return amount


def quantize(amount: Decimal, places: int = FIAT_DECIMALS) -> Decimal:
    """Round half up to `places` decimals (cents for most fiat)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, places: int = FIAT_DECIMALS) -> str:
    """The response form of an amount: a fixed-point decimal string such as "100.50"."""
    return f"{quantize(amount, places):f}"


def from_minor(minor: int, currency: str) -> Decimal:
    """Integer minor units of `currency` as its major-unit Decimal (2550 USD cents -> 25.50)."""
    return Decimal(minor).scaleb(-minor_units(currency))


def format_minor(minor: int, currency: str) -> str:
    """Integer minor units of `currency` in the response form ("25.50")."""
    return format_amount(from_minor(minor, currency), minor_units(currency))
