"""API schemas of payouts: the creation body (every item checked before anything is stored)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.models.common import Identifier
from shared.models.consumer import Coin, Email
from shared.models.consumer_money import TokenAmount
from shared.models.enterprise import REFERENCE_PATTERN

MAX_PAYOUT_ITEMS = 5_000
Reference = Annotated[str, Field(strict=True, pattern=REFERENCE_PATTERN)]
Address = Annotated[str, Field(strict=True, pattern=r"^0x[0-9a-fA-F]{40}$")]


class PayoutRecipient(BaseModel):
    """Exactly one of: a consumer of the tenant by id, a person by email, or an outside 0x address."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    consumer_id: Identifier | None = None
    email: Email | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PayoutRecipient:
        given = [v for v in (self.consumer_id, self.email, self.address) if v is not None]
        if len(given) != 1:
            raise ValueError("name exactly one of consumer_id, email or address")
        return self

    @property
    def kind(self) -> str:
        return "consumer_id" if self.consumer_id else "email" if self.email else "address"

    @property
    def value(self) -> str:
        return self.consumer_id or self.email or self.address or ""


class PayoutItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    recipient: PayoutRecipient
    amount: TokenAmount
    currency: Coin = "USDC"
    reference: Reference


class PayoutCreate(BaseModel):
    """Body of POST /api/v1/payouts."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    purpose: Literal["payroll", "vendor"]
    items: Annotated[list[PayoutItemIn], Field(min_length=1, max_length=MAX_PAYOUT_ITEMS)]
    reference: Reference
    scheduled_for: AwareDatetime | None = Field(
        default=None, description="vendor payouts: paid at this moment (after approval) instead of at once"
    )
