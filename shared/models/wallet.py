"""Wallets and their cards: request schemas, the entities, the status set and the response shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.models.common import (
    MAX_METADATA_KEYS,
    WHOLE_NUMBER,
    FiatAmount,
    Identifier,
    IsoDate,
    LongText,
    MetadataKey,
    MetadataValue,
)
from shared.money import CURRENCY_MINOR_UNITS, decimals_of, format_amount, format_minor, minor_units
from shared.outbox.records import iso

MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 30 * 24 * 60 * 60
DEFAULT_TTL_SECONDS = 24 * 60 * 60
MAX_EXPIRY_MINUTES = 7 * 24 * 60


class WalletMode(StrEnum):
    EPHEMERAL = "ephemeral"
    ADAPTIVE = "adaptive"
    PERSISTENT = "persistent"


class WalletStatus(StrEnum):
    ACTIVE = "active"
    FUNDED = "funded"
    PAYMENT_COMPLETE = "payment_complete"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    EXPIRED = "expired"


# Statuses a past expires_at turns into `expired` on read: money may still sit in a funded wallet, but its
# countdown is over and only destruction (which forwards the funds) may follow.
EXPIRABLE = frozenset({WalletStatus.ACTIVE, WalletStatus.FUNDED})
# A wallet in these statuses is gone for good: nothing may change its type any more.
FINISHED = frozenset({WalletStatus.DESTROYING, WalletStatus.DESTROYED, WalletStatus.EXPIRED})

FEATURES: dict[WalletMode, tuple[str, ...]] = {
    WalletMode.EPHEMERAL: ("invoice_payment", "virtual_card", "auto_destroy", "countdown"),
    WalletMode.ADAPTIVE: ("invoice_payment", "virtual_card", "transformable"),
    WalletMode.PERSISTENT: ("invoice_payment", "virtual_card", "recurring_payments", "multi_currency"),
}

# What a wallet of a consumer offers beside its type's features: the onboarding wallet, and an invoice wallet
# made persistent for a consumer's invoice (it joins that consumer's wallets).
CONSUMER_FEATURES: tuple[str, ...] = ("p2p_enabled", "savings_enabled", "multi_currency")

ModeName = Literal["ephemeral", "adaptive", "persistent"]


class CreateFromInvoice(BaseModel):
    """Body of POST /api/v2/invoice-wallets/create-from-invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    invoice_id: Identifier
    ttl: Annotated[int, Field(strict=True, ge=MIN_TTL_SECONDS, le=MAX_TTL_SECONDS), WHOLE_NUMBER] | None = (
        None
    )
    mode_override: ModeName | None = None


class CreateInvoiceWallet(BaseModel):
    """Body of POST /api/v1/invoices/create-wallet: a one-line invoice and its wallet in one call."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: FiatAmount
    currency: Annotated[str, Field(strict=True, pattern=r"^[A-Z]{3}$")]
    vendorId: Identifier
    description: LongText
    dueDate: IsoDate
    # One key fewer than an invoice allows: the vendor id travels in the invoice's metadata.
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS - 1)] | None = (
        None
    )
    customer_id: Identifier | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_MINOR_UNITS:
            raise ValueError("currency must be a supported ISO 4217 code")
        return value

    @field_validator("amount")
    @classmethod
    def _fits_currency(cls, value: Decimal, info: Any) -> Decimal:
        currency = info.data.get("currency")
        if currency is not None and decimals_of(value) > minor_units(currency):
            raise ValueError(f"amount has more decimals than {currency} allows")
        return value

    @field_validator("metadata")
    @classmethod
    def _no_reserved_key(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and "vendor_id" in value:
            raise ValueError("vendor_id is set from vendorId")
        return value


class CreateEphemeral(BaseModel):
    """Body of POST /api/v1/wallets/ephemeral/create: a wallet with a countdown and no invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    purpose: Literal["p2p", "invoice", "payroll"]
    expiryMinutes: Annotated[int, Field(strict=True, ge=1, le=MAX_EXPIRY_MINUTES), WHOLE_NUMBER]
    amount: FiatAmount | None = None


class Card(BaseModel):
    """The wallet's virtual card as we store it: never its number or CVC, which we never fetch."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    card_id: str
    wallet_id: str
    last4: str
    exp_month: int
    exp_year: int
    status: str
    spending_limit_minor: int
    currency: str

    def network_expiry(self) -> datetime:
        """Cards are valid through the last day of their expiry month."""
        first_of_next = date(self.exp_year + self.exp_month // 12, self.exp_month % 12 + 1, 1)
        return datetime(first_of_next.year, first_of_next.month, 1, tzinfo=UTC) - timedelta(seconds=1)

    def to_api(self, wallet_expires_at: datetime | None, remaining_limit_minor: int | None) -> dict[str, Any]:
        currency = self.currency.upper()
        # The card dies with its wallet: an ephemeral wallet's card is cancelled at destruction.
        expiry = self.network_expiry()
        if wallet_expires_at is not None:
            expiry = min(expiry, wallet_expires_at)
        return {
            "id": self.card_id,
            "wallet_id": self.wallet_id,
            "last4": self.last4,
            "card_type": "virtual",
            "status": self.status,
            "spending_limit": format_minor(self.spending_limit_minor, currency),
            "remaining_limit": (
                None if remaining_limit_minor is None else format_minor(remaining_limit_minor, currency)
            ),
            "currency": self.currency.upper(),
            "single_use": True,
            "expires_at": iso(expiry),
        }


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units to integer minor units; the amount must already fit the currency's places."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


class Wallet(BaseModel):
    """A wallet as the domain holds it; `balance` and `spending_limit` in major units of `currency`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    wallet_id: str
    tenant_id: str
    # None for a standalone ephemeral wallet; stored items omit absent attributes.
    invoice_id: str | None = None
    customer_id: str | None = None
    wallet_type: WalletMode
    status: WalletStatus
    evm_address: str
    solana_address: str
    balance: Decimal = Decimal(0)
    spending_limit: Decimal
    currency: str
    expires_at: datetime | None = None
    ttl_seconds: int | None = None
    provider: str | None = None
    card_id: str | None = None
    purpose: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    transformed_at: datetime | None = None
    version: int = 1
    # Ledger journals of the wallet's payments, appended by each payment's commit (the destruction log
    # lists them with the final refund).
    journal_ids: list[str] = Field(default_factory=list)

    def is_expired(self, now: datetime) -> bool:
        if self.status in (WalletStatus.EXPIRED, WalletStatus.DESTROYED):
            return True
        return self.expires_at is not None and now >= self.expires_at and self.status in EXPIRABLE

    def status_at(self, now: datetime) -> WalletStatus:
        """The status to show: a past expires_at reads as expired at once, before any trigger ran."""
        if self.status in EXPIRABLE and self.expires_at is not None and now >= self.expires_at:
            return WalletStatus.EXPIRED
        return self.status

    def remaining_seconds(self, now: datetime) -> int | None:
        """Seconds left on the countdown: 0 once the wallet is destroying, destroyed or expired (a wallet
        destroyed early, by payment, keeps its expires_at but has no time left)."""
        if self.expires_at is None:
            return None
        if self.status in FINISHED:
            return 0
        return max(0, int((self.expires_at - now).total_seconds()))

    def to_api(self, now: datetime) -> dict[str, Any]:
        places = minor_units(self.currency)
        return {
            "wallet_id": self.wallet_id,
            "object": "wallet",
            "invoice_id": self.invoice_id,
            "customer_id": self.customer_id,
            "wallet_type": self.wallet_type.value,
            "wallet_address": self.evm_address,
            "solana_address": self.solana_address,
            "balance": format_amount(self.balance, max(places, decimals_of(self.balance))),
            "spending_limit": format_amount(self.spending_limit, places),
            "currency": self.currency,
            "status": self.status_at(now).value,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "ttl_seconds": self.ttl_seconds,
            "remaining_seconds": self.remaining_seconds(now),
            "provider": self.provider,
            "features": list(FEATURES[self.wallet_type]),
            "purpose": self.purpose,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class FundWallet(BaseModel):
    """Body of POST /api/v2/invoice-wallets/{walletId}/fund."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    payment_method: Annotated[
        str, Field(strict=True, pattern=r"^pm_[A-Za-z0-9_]{1,250}$", description="a Stripe PaymentMethod id")
    ]
    payment_token: Annotated[str, Field(strict=True, min_length=1, max_length=255)] | None = None


class PayInvoice(BaseModel):
    """Body of POST /api/v2/invoice-wallets/{walletId}/pay-invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: FiatAmount | None = None
