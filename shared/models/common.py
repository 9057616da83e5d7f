"""Field types every API schema shares: safe text, identifiers, amounts and dates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from shared.money import MAX_AMOUNT, parse_amount

# Identifiers end up inside DynamoDB keys (`TENANT#{tenant}`, `CUSTOMER#{id}`): a small alphabet keeps
# a `#` or a control character from ever forging another key.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@|+-]{0,127}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_identifier(value: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(value))


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_text(value: str) -> str:
    """Refuse control characters, lone surrogates and bidi overrides; the rest of Unicode is fair."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _parse_iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be an ISO date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be a real calendar date") from exc


def _text(max_length: int) -> Any:
    return Field(min_length=1, max_length=max_length, strict=True)


LongText = Annotated[str, _text(500), AfterValidator(check_text)]
ShortText = Annotated[str, _text(100), AfterValidator(check_text)]
Identifier = Annotated[str, Field(strict=True, pattern=IDENTIFIER_PATTERN)]
# What parse_amount accepts, as JSON Schema: a number above 0, at most 1,000,000,000, in cents; or the same
# as a plain decimal string (trailing zeros allowed: "5.000" is 5). Fuzzing holds the two to each other.
FIAT_AMOUNT_PATTERN = (
    r"^(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,2}0*)?|0\.(?:0[1-9]|[1-9][0-9]?)0*|1000000000(?:\.0+)?)$"
)
FIAT_AMOUNT_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_AMOUNT), "multipleOf": 0.01},
        {"type": "string", "pattern": FIAT_AMOUNT_PATTERN},
    ],
    "description": 'major units, at most 2 decimals: 100, 100.5 or "100.50"',
}
FiatAmount = Annotated[Decimal, BeforeValidator(parse_amount), WithJsonSchema(FIAT_AMOUNT_SCHEMA)]


def _whole_number(value: Any) -> Any:
    """JSON Schema's integer: 2 and 2.0 alike (the API parses 2.0 as Decimal), never a bool or a string."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


# Put after the Field holding an integer's bounds: `Annotated[int, Field(strict=True, ge=1), WHOLE_NUMBER]`.
WHOLE_NUMBER = BeforeValidator(_whole_number)
IsoDate = Annotated[date, BeforeValidator(_parse_iso_date)]

# Free-form metadata on invoices and wallets (Stripe's shape): short keys, string values, a bounded count.
MAX_METADATA_KEYS = 20
MetadataKey = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
MetadataValue = Annotated[str, Field(min_length=1, max_length=500, strict=True)]
