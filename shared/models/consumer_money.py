"""API schemas of consumer money in and out: deposit, withdraw and transfer bodies, and their answers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.models.common import ShortText
from shared.models.consumer import Coin
from shared.money import TOKEN_DECIMALS, parse_amount

EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SOLANA_ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
Chain = Literal["tempo", "ethereum", "base", "polygon", "arbitrum", "solana"]


# Stripe's smallest charge in USD and EUR: below it a PaymentIntent is refused (a 400 here, not Stripe's).
MIN_DEPOSIT = Decimal("0.50")


def _fiat_amount(value: object) -> Decimal:
    return parse_amount(value)  # cents: what a PaymentIntent or a payout can carry


def _deposit_amount(value: object) -> Decimal:
    amount = _fiat_amount(value)
    if amount < MIN_DEPOSIT:
        raise ValueError(f"amount must be at least {MIN_DEPOSIT}")
    return amount


def _token_amount(value: object) -> Decimal:
    return parse_amount(value, TOKEN_DECIMALS)


DepositAmount = Annotated[Decimal, BeforeValidator(_deposit_amount)]
TokenAmount = Annotated[Decimal, BeforeValidator(_token_amount)]
PaymentMethod = Annotated[
    str, Field(strict=True, pattern=r"^pm_[A-Za-z0-9_]{1,250}$", description="a Stripe PaymentMethod id")
]


def is_outside_address(text: str, chain: str | None = None) -> bool:
    """Whether a transfer's `to` is an address outside the tenant (not a user id, email or phone)."""
    if chain == "solana":
        return bool(SOLANA_ADDRESS.fullmatch(text))
    return bool(EVM_ADDRESS.fullmatch(text))


class Deposit(BaseModel):
    """Body of POST /api/consumer/deposit: `amount` in the coin's backing currency (at most 2 decimals)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: DepositAmount
    currency: Coin | None = None
    payment_method: PaymentMethod
    urgency: Literal["instant", "standard"] = "standard"


class BankDestination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["bank"]
    bank_account: Annotated[
        str,
        Field(
            strict=True,
            pattern=r"^(btok|ba)_[A-Za-z0-9_]{1,250}$",
            description="a Stripe bank account token (btok_) or bank account id (ba_)",
        ),
    ]
    speed: Literal["instant", "standard"] = "standard"


class AddressDestination(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    type: Literal["address"]
    address: Annotated[str, Field(strict=True, min_length=32, max_length=64)]
    chain: Chain

    @model_validator(mode="after")
    def _address_fits_chain(self) -> AddressDestination:
        if not is_outside_address(self.address, self.chain):
            raise ValueError(f"address is not a {self.chain} address")
        return self


class Withdraw(BaseModel):
    """Body of POST /api/consumer/withdraw."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: TokenAmount
    currency: Coin | None = None
    destination: Annotated[BankDestination | AddressDestination, Field(discriminator="type")]


class TransferAny(BaseModel):
    """Body of POST /api/consumer/transfer: `to` is a consumer of the tenant (user id, email or phone) or an
    outside address (`0x...`, or a Solana address with `chain: "solana"`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    to: Annotated[str, Field(strict=True, min_length=1, max_length=254)]
    amount: TokenAmount
    currency: Coin = "USDC"
    memo: ShortText | None = None
    chain: Chain | None = None

    @model_validator(mode="after")
    def _chain_goes_with_an_address(self) -> TransferAny:
        if self.chain is not None and not is_outside_address(self.to, self.chain):
            raise ValueError(f"with chain {self.chain}, `to` must be a {self.chain} address")
        return self
