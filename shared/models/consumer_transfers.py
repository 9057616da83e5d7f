"""API schemas of the consumer's batch transfers, swaps and requests to pay: request bodies and the typed
answers (the `data` of the envelope) the OpenAPI document shows."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.models.common import ShortText
from shared.models.consumer import Coin, TokenAmount

MAX_BATCH_ITEMS = 100
Recipient = Annotated[str, Field(strict=True, min_length=1, max_length=254)]


class BatchLine(BaseModel):
    """One recipient: a consumer of the tenant (user id, email or phone) or an outside 0x address."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    to: Recipient
    amount: TokenAmount
    currency: Coin = "USDC"


class BatchTransferBody(BaseModel):
    """Body of POST /api/consumer/batch-transfer: every line is checked before anything moves."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    recipients: Annotated[list[BatchLine], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]
    reference: ShortText | None = None


class SwapQuoteBody(BaseModel):
    """Body of POST /api/consumer/swap/quote."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    from_: Coin = Field(alias="from")
    to: Coin
    amount: TokenAmount

    @model_validator(mode="after")
    def _two_coins(self) -> SwapQuoteBody:
        if self.from_ == self.to:
            raise ValueError("a swap needs two different coins")
        return self


class SwapBody(BaseModel):
    """Body of POST /api/consumer/swap: a quote's id, or a swap at the current price within a bound."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    quote_id: Annotated[str, Field(strict=True, pattern=r"^swq_[0-9a-z]{24}$")] | None = None
    from_: Coin | None = Field(default=None, alias="from")
    to: Coin | None = None
    amount: TokenAmount | None = None
    max_slippage_bps: Annotated[int, Field(strict=True, ge=0, le=1000)] = 50

    @model_validator(mode="after")
    def _one_form(self) -> SwapBody:
        direct = (self.from_, self.to, self.amount)
        if self.quote_id is not None:
            if any(part is not None for part in direct):
                raise ValueError("give either quote_id or from, to and amount, not both")
        elif any(part is None for part in direct):
            raise ValueError("give quote_id, or from, to and amount")
        elif self.from_ == self.to:
            raise ValueError("a swap needs two different coins")
        return self


class PayRequestBody(BaseModel):
    """Body of POST /api/consumer/requests: ask another consumer of the tenant to pay."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    from_: Recipient = Field(alias="from")
    amount: TokenAmount
    currency: Coin = "USDC"
    memo: ShortText | None = None
