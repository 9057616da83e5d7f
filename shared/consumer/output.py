"""The consumer routes' answers (the envelope's `data`), as shared/consumer/service.py, kyc.py and
providers.py write them: amounts as decimal strings (USD to the cent, coins to the micro-unit)."""

from typing import Literal

from pydantic import ConfigDict, Field

from shared.models.output import Output
from shared.providers.output import ProviderHealthOut, ProviderStatusOut


class ConsumerUser(Output):
    id: str
    tenant_id: str
    email: str
    phone: str
    kyc_level: int
    wallet_id: str
    created_at: str


class ConsumerWallet(Output):
    """The consumer's one persistent wallet."""

    wallet_id: str
    wallet_type: str
    wallet_address: str
    solana_address: str
    status: str
    features: list[str]
    created_at: str


class LimitWindow(Output):
    limit: str
    used: str
    remaining: str
    resets_at: str


class NextLevel(Output):
    level: int
    daily_limit: str
    monthly_limit: str
    requires: list[str]


class KycVerification(Output):
    """The latest KYC upgrade asked for: pending, requires_input (with Stripe's `last_error` code and
    reason), verified or canceled."""

    verification_session_id: str
    level: int
    status: str
    last_error: dict[str, str] | None
    created_at: str


class ConsumerLimits(Output):
    """The caller's KYC level, the daily and monthly headroom in USD, what the next level needs (none at
    the top level), and the latest KYC upgrade asked for (none before the first)."""

    kyc_level: int
    daily: LimitWindow
    monthly: LimitWindow
    next_level: NextLevel | None
    verification: KycVerification | None


class Onboarded(Output):
    """201 when this call made the profile, 200 when it already existed (the same answer)."""

    user: ConsumerUser
    wallet: ConsumerWallet
    limits: ConsumerLimits


class ConsumerTransactionOut(Output):
    id: str
    type: str
    amount: str
    currency: str
    status: str
    counterparty: str | None
    provider: str | None
    batch_id: str | None
    memo: str | None
    created_at: str
    settled_at: str | None


class Transferred(Output):
    """The sender's side of an internal transfer: instant, free, at no provider."""

    transaction: ConsumerTransactionOut
    fee: str
    provider: str | None


class CoinBalance(Output):
    currency: str
    available: str
    pending: str


class ConsumerBalance(Output):
    balances: list[CoinBalance]
    total_usd: str


class Holding(Output):
    currency: str
    amount: str
    provider: str | None
    usd_value: str
    rate: str


class ConsumerPortfolio(Output):
    """Holdings valued in USD at the configured rates (`rates_as_of`: the oldest rate used)."""

    total_usd: str
    rates_as_of: str
    breakdown: list[Holding]
    primary_provider: str | None


class ConsumerTransactions(Output):
    transactions: list[ConsumerTransactionOut]
    next_cursor: str | None


class ConsumerPreferences(Output):
    preferred_currency: str
    smart_routing: bool
    instant_notifications: bool
    auto_pay: bool


class ConsumerProviderStatus(ProviderStatusOut):
    currencies: list[str]


class StatusWithCoins(Output):
    """Each provider's health with the coins it serves, the primary, and the server's time."""

    tempo: ConsumerProviderStatus
    circle: ConsumerProviderStatus
    primary: str | None
    timestamp: str


class ConsumerProviderHealth(ProviderHealthOut):
    currencies: list[str]


class HealthWithCoins(Output):
    """Each provider's recorded health with the coins it serves, and the primary."""

    providers: list[ConsumerProviderHealth]
    primary: str


class KycStarted(Output):
    """202: the Stripe Identity verification to complete at `verification_url`; the level rises on its
    webhook."""

    verification_session_id: str
    verification_url: str | None
    status: Literal["pending"]
    level: int


# -- money in and out (shared/consumer/deposits.py, withdrawals.py) ------------------------------------
class Deposited(Output):
    """A deposit: completed (card) or processing (a bank debit, completed by Stripe's webhook)."""

    transaction: ConsumerTransactionOut
    provider: str | None
    settlement_time_ms: int | None = Field(
        description="from the request to the mint's commit; null while processing"
    )
    payment_intent_id: str | None


class Withdrawn(Output):
    transaction: ConsumerTransactionOut
    arrival_date: str | None = Field(description="when the bank payout is expected; null for an address")
    fee: str
    provider: str | None
    payout_id: str | None


# -- batches (shared/consumer/batches.py) ---------------------------------------------------------------
class BatchItemOut(Output):
    index: int
    to: str
    amount: str
    currency: str
    status: Literal["pending", "processing", "paid", "failed"]
    fee: str
    transaction_id: str | None = None
    error: str | None = None


class CoinTotal(Output):
    currency: str
    amount: str
    fee: str


class BatchOut(Output):
    id: str
    status: Literal["processing", "completed", "completed_with_errors", "failed"]
    reference: str | None
    currency: str = Field(description="the batch's coin; USD (a USD value) when it mixes coins")
    total: str
    fee: str | None = Field(description="network fees held, in the batch's coin (None when mixed)")
    totals: list[CoinTotal]
    provider: str | None
    created_at: str
    items: list[BatchItemOut]


class BatchAnswer(Output):
    batch: BatchOut


# -- swaps (shared/consumer/swaps.py) -------------------------------------------------------------------
class SwapQuoteOut(Output):
    model_config = ConfigDict(populate_by_name=True)

    quote_id: str
    from_: str = Field(alias="from")
    to: str
    rate: str
    from_amount: str
    to_amount: str
    fee: str
    expires_at: str


class Swapped(Output):
    transaction: ConsumerTransactionOut
    rate: str
    from_amount: str
    to_amount: str
    fee: str
    provider: str


# -- requests to pay (shared/consumer/requests.py) -------------------------------------------------------
class PayRequestOut(Output):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    invoice_id: str
    number: str
    from_: str = Field(alias="from")
    to: str
    amount: str
    currency: str
    memo: str | None
    status: Literal["pending", "accepted", "declined"]
    transaction_id: str | None
    created_at: str


class PayRequestAnswer(Output):
    request: PayRequestOut
    transaction: ConsumerTransactionOut | None = None
