"""Consumer records: the profile, preferences, KYC levels and their windows, and transactions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

from shared.ledger.assets import STABLECOINS, TOKEN_DECIMALS
from shared.outbox.records import iso

DEFAULT_CURRENCY = "USDC"
COINS: tuple[str, ...] = tuple(sorted(STABLECOINS))
# Limits and usage are counted in millionths of a dollar: exact for every coin's smallest unit.
USD_MICRO = 10**6


def format_token(minor: int) -> str:
    """Token minor units as the API's decimal string: cents always shown, more places only when present
    ("100.00", "0.123456")."""
    amount = Decimal(minor).scaleb(-TOKEN_DECIMALS)
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent if isinstance(exponent, int) else 0)
    return f"{amount:.{places}f}"


def format_usd(micro: int) -> str:
    """Micro-dollars as dollars and cents (rounded half up)."""
    from shared.money import format_amount

    return format_amount(Decimal(micro).scaleb(-6))


def token_minor(amount: Decimal) -> int:
    """Major units (already validated to at most TOKEN_DECIMALS places) as integer minor units."""
    return int(amount.scaleb(TOKEN_DECIMALS))


def usd_micro(token_amount: int, rate: Decimal) -> int:
    """The USD value of `token_amount` minor units at `rate` USD per unit, rounded up: a limit is never
    passed by rounding."""
    return int((Decimal(token_amount) * rate).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class KycLevel:
    level: int
    daily_limit: int
    monthly_limit: int
    requires: tuple[str, ...]


_DOLLARS = USD_MICRO
KYC_LEVELS: dict[int, KycLevel] = {
    1: KycLevel(1, 1_000 * _DOLLARS, 30_000 * _DOLLARS, ("email", "phone")),
    2: KycLevel(2, 50_000 * _DOLLARS, 1_500_000 * _DOLLARS, ("document",)),
    3: KycLevel(3, 250_000 * _DOLLARS, 7_500_000 * _DOLLARS, ("document", "selfie", "id_number")),
}


class WindowName(StrEnum):
    DAILY = "daily"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Window:
    """One UTC limit window of one person: its counter key (`2030-01-31`, `2030-01`) and when it resets."""

    name: WindowName
    key: str
    resets_at: datetime

    @property
    def counter_id(self) -> str:
        return f"{self.name.value}#{self.key}"


def windows_at(now: datetime) -> tuple[Window, Window]:
    """The day and month windows `now` falls in (UTC)."""
    moment = now.astimezone(UTC)
    day_start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return (
        Window(WindowName.DAILY, day_start.strftime("%Y-%m-%d"), day_start + timedelta(days=1)),
        Window(WindowName.MONTHLY, month_start.strftime("%Y-%m"), next_month),
    )


def limit_of(level: KycLevel, window: Window) -> int:
    return level.daily_limit if window.name is WindowName.DAILY else level.monthly_limit


@dataclass(frozen=True)
class Preferences:
    preferred_currency: str = DEFAULT_CURRENCY
    smart_routing: bool = True
    instant_notifications: bool = True
    auto_pay: bool = False
    """Recurring invoices addressed to this person are paid from their wallet when made (if it holds enough
    and the limit allows); off until they turn it on."""

    def to_api(self) -> dict[str, Any]:
        return {
            "preferred_currency": self.preferred_currency,
            "smart_routing": self.smart_routing,
            "instant_notifications": self.instant_notifications,
            "auto_pay": self.auto_pay,
        }

    def merged(self, changes: dict[str, Any]) -> Preferences:
        return replace(self, **changes)


class VerificationStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_INPUT = "requires_input"
    VERIFIED = "verified"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Verification:
    """A KYC upgrade through one Stripe Identity VerificationSession: the level it asks for, where it stands,
    and why Stripe asked for more input (`last_error`: Stripe's `code` and `reason`)."""

    session_id: str
    level: int
    status: VerificationStatus
    url: str | None
    created_at: datetime
    last_error: dict[str, str] | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "verification_session_id": self.session_id,
            "level": self.level,
            "status": self.status.value,
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
        }

    def to_record(self) -> dict[str, Any]:
        return {**self.to_api(), "url": self.url}

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> Verification:
        error = values.get("last_error")
        return cls(
            session_id=values["verification_session_id"],
            level=int(values["level"]),
            status=VerificationStatus(values["status"]),
            url=values.get("url"),
            created_at=datetime.fromisoformat(values["created_at"]),
            last_error={str(k): str(v) for k, v in error.items()} if isinstance(error, dict) else None,
        )


@dataclass(frozen=True)
class Profile:
    """A consumer of a tenant: the token's `sub` there, with one persistent wallet."""

    tenant_id: str
    user_id: str
    email: str
    phone: str
    wallet_id: str
    kyc_level: int
    created_at: datetime
    preferences: Preferences = field(default_factory=Preferences)
    # The latest KYC upgrade asked for, and how many were ever started (each its own Stripe idempotency key).
    verification: Verification | None = None
    kyc_sessions: int = 0
    # Invoice wallets made persistent for this person's invoices: they count in the balance and portfolio.
    joined_wallets: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "tenant_id": self.tenant_id,
            "email": self.email,
            "phone": self.phone,
            "kyc_level": self.kyc_level,
            "wallet_id": self.wallet_id,
            "created_at": iso(self.created_at),
        }


class TransactionType(StrEnum):
    TRANSFER_SENT = "transfer_sent"
    TRANSFER_RECEIVED = "transfer_received"
    SWAP = "swap"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    WALLET_JOINED = "wallet_joined"
    """An invoice wallet made persistent joined the person's wallets with what it held (one line a coin)."""


class TransactionStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REVERSED = "reversed"


@dataclass(frozen=True)
class ConsumerTransaction:
    """One line of a person's history (each side of a transfer has its own, under the same id)."""

    id: str
    type: TransactionType
    amount: int
    currency: str
    status: TransactionStatus
    counterparty: str | None
    provider: str | None
    created_at: datetime
    settled_at: datetime | None
    journal_id: str | None = None
    memo: str | None = None
    batch_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type.value,
            "amount": format_token(self.amount),
            "currency": self.currency,
            "status": self.status.value,
            "counterparty": self.counterparty,
            "provider": self.provider,
            "batch_id": self.batch_id,
            "memo": self.memo,
            "created_at": iso(self.created_at),
            "settled_at": iso(self.settled_at) if self.settled_at else None,
        }
