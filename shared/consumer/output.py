"""The consumer routes' answers (the envelope's `data`), as shared/consumer/service.py, kyc.py and
providers.py write them: amounts as decimal strings (USD to the cent, coins to the micro-unit)."""

from typing import Literal

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
