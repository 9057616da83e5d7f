"""The fund function's answers (the envelope's `data`): a funding and a merchant's refund."""

from typing import Literal

from shared.models.output import Output


class Funded(Output):
    """200: the wallet is funded (its balance after the mint)."""

    wallet_id: str
    wallet_balance: str
    transaction_hash: str | None
    provider: str | None
    status: Literal["funded"]
    payment_intent_id: str | None


class FundingProcessing(Output):
    """202: a bank payment is processing; the wallet is funded when it settles."""

    wallet_id: str
    status: Literal["processing"]
    payment_intent_id: str


class WalletRefunded(Output):
    refunded: str
    wallet_status: str
