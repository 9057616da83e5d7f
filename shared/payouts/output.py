"""The payout routes' answers."""

from pydantic import Field

from shared.models.output import Output


class PayoutItemOut(Output):
    index: int
    recipient: dict[str, str] = Field(description="the one of consumer_id, email or address the item named")
    amount: str
    currency: str
    reference: str
    status: str = Field(description="pending, processing, paid, claimed, returned or failed")
    attempt: int
    wallet_id: str | None = Field(
        description="payroll: the item's claim wallet; vendor: the consumer's wallet"
    )
    provider: str | None
    transaction_id: str | None
    error: str | None
    claim_expires_at: str | None
    claim_url: str | None = Field(description="payroll: the signed link the employee claims the item with")


class PayoutTotalOut(Output):
    currency: str
    amount: str


class PayoutOut(Output):
    id: str
    purpose: str
    reference: str
    status: str = Field(
        description="pending_approval, approved, processing, completed, completed_with_errors, cancelled, "
        "rejected"
    )
    created_by: str
    approvals: list[str]
    approvals_required: int
    totals: list[PayoutTotalOut]
    item_count: int
    counts: dict[str, int] = Field(description="items per status")
    scheduled_for: str | None
    created_at: str
    updated_at: str
    items: list[PayoutItemOut] | None = None


class PayoutData(Output):
    payout: PayoutOut


class ClaimOut(Output):
    payout_id: str
    employer: str
    reference: str
    amount: str
    currency: str
    status: str = Field(description="paid (waiting to be claimed), claimed or returned")
    recipient: dict[str, str]
    expires_at: str
    remaining_seconds: int
    server_time: str
    transaction_id: str | None = Field(default=None, description="the claim's line in the consumer's history")


class ClaimData(Output):
    claim: ClaimOut
