"""The treasury routes' answers (GET /api/v1/treasury; deposits answer the consumer deposit's model)."""

from pydantic import Field

from shared.models.output import Output


class TreasuryBalanceOut(Output):
    currency: str
    available: str = Field(description="what the treasury holds now; approved payouts' holds are out of it")


class TreasuryOut(Output):
    wallet_id: str
    wallet_address: str
    solana_address: str
    status: str
    created_at: str
    balances: list[TreasuryBalanceOut]


class TreasuryData(Output):
    treasury: TreasuryOut
