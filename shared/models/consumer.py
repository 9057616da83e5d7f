"""API input schemas of the consumer wallet routes."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from shared.models.common import ShortText
from shared.money import TOKEN_DECIMALS, parse_amount

Coin = Literal["USDC", "USDT", "PYUSD", "USDB", "EURC"]
TransactionKind = Literal[
    "transfer_sent", "transfer_received", "deposit", "withdrawal", "swap", "wallet_joined"
]
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address")
    # Compared case-insensitively: one person, however they type it.
    return value.lower()


def _phone(value: str) -> str:
    if not _E164.fullmatch(value):
        raise ValueError("must be an E.164 phone number such as +14155550123")
    return value


def _token_amount(value: object) -> Decimal:
    return parse_amount(value, TOKEN_DECIMALS)


Email = Annotated[str, Field(strict=True, max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(strict=True, max_length=16), AfterValidator(_phone)]
TokenAmount = Annotated[Decimal, BeforeValidator(_token_amount)]


class Onboard(BaseModel):
    """Body of POST /api/consumer/onboard."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    email: Email
    phone: Phone


class Transfer(BaseModel):
    """Body of POST /api/consumer/transfer: `to` is a consumer of the tenant by user id, email or phone."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    to: Annotated[str, Field(strict=True, min_length=1, max_length=254)]
    amount: TokenAmount
    currency: Coin = "USDC"
    memo: ShortText | None = None


class PreferencesPatch(BaseModel):
    """Body of PATCH /api/consumer/preferences: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    preferred_currency: Coin | None = None
    smart_routing: Annotated[bool, Field(strict=True)] | None = None
    instant_notifications: Annotated[bool, Field(strict=True)] | None = None
    auto_pay: Annotated[bool, Field(strict=True)] | None = None


class UpgradeKyc(BaseModel):
    """Body of POST /api/consumer/upgrade-kyc: the level asked for (2 or 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    level: Annotated[int, Field(strict=True, ge=2, le=3)]
