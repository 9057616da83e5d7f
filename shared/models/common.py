"""Field types every API schema shares: safe text, identifiers, amounts and dates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from shared.money import parse_amount

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
FiatAmount = Annotated[Decimal, BeforeValidator(parse_amount)]
IsoDate = Annotated[date, BeforeValidator(_parse_iso_date)]
