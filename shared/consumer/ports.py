"""Ports of the consumer capability: its store, exchange rates, and the wallet maker it borrows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from shared.auth import Principal
from shared.consumer.records import (
    ConsumerTransaction,
    Preferences,
    Profile,
    TransactionType,
    Verification,
    Window,
)
from shared.models.wallet import Wallet
from shared.outbox.records import Record


@dataclass(frozen=True)
class Rate:
    """US dollars per unit of `currency`, as the rate source knew it at `as_of`."""

    currency: str
    usd: Decimal
    as_of: datetime


class ExchangeRates(Protocol):
    def usd_rate(self, currency: str) -> Rate:
        """USD per unit of the fiat `currency`; errors.DependencyUnavailable when no rate is known."""
        ...


@dataclass(frozen=True)
class CounterCharge:
    """Add `amount` (micro-USD) to one window's usage counter, only while it stays <= `limit`."""

    window: Window
    limit: int
    amount: int


@dataclass(frozen=True)
class TransactionPage:
    items: list[ConsumerTransaction]
    next_cursor: str | None


class ConsumerStore(Protocol):
    """Profiles, their uniqueness items, limit counters and histories.

    Writes that go with money are returned as operations for the ledger's own transaction
    (`LedgerStore.post(journal, also=...)`), so a movement, its limit check and its records commit together.
    """

    def profile(self, tenant_id: str, user_id: str) -> Profile | None: ...

    def holder_of(self, tenant_id: str, kind: str, value: str) -> str | None:
        """The user holding `value` as their `email` or `phone` in the tenant, or None."""
        ...

    def onboarding_records(self, profile: Profile) -> list[dict[str, Any]]:
        """Plain items (profile, email and phone uniqueness) each to be put only if absent."""
        ...

    def usage(self, tenant_id: str, user_id: str, windows: tuple[Window, ...]) -> dict[str, int]:
        """Used micro-USD per window counter id (0 for a window not used yet), strongly consistent."""
        ...

    def movement_operations(
        self,
        tenant_id: str,
        user_id: str,
        charges: list[CounterCharge],
        history: list[tuple[str, ConsumerTransaction]],
        events: list[Record],
    ) -> list[Any]:
        """Operations: each guarded counter charge of `user_id`, each (owner, transaction) line, events."""
        ...

    def transactions(
        self,
        tenant_id: str,
        user_id: str,
        kind: TransactionType | None,
        currency: str | None,
        limit: int,
        cursor: str | None,
    ) -> TransactionPage: ...

    def join_wallet(self, tenant_id: str, user_id: str, wallet_id: str, now: datetime) -> Any:
        """The operation adding `wallet_id` to the person's joined wallets (the wallet's own transform
        commits once, so this runs once)."""
        ...

    def save_preferences(
        self, tenant_id: str, user_id: str, preferences: Preferences, now: datetime
    ) -> None: ...


class ConsumerWallets(Protocol):
    """The wallet capability's side: making a persistent wallet and reading it back."""

    def create_consumer_wallet(self, principal: Principal, wallet_id: str, records: list[Record]) -> Any: ...

    def visible_wallet(self, principal: Principal, wallet_id: str) -> Wallet: ...


@dataclass(frozen=True)
class VerificationSession:
    """A Stripe Identity VerificationSession as the KYC upgrade needs it."""

    session_id: str
    url: str | None
    status: str
    metadata: dict[str, str]


class IdentityVerifier(Protocol):
    """Stripe Identity: one hosted document (and selfie) check per session."""

    def start(
        self, level: int, metadata: dict[str, str], idempotency_key: str, return_url: str | None = None
    ) -> VerificationSession:
        """Create a VerificationSession for `level` (2: a document; 3: a document with a matching selfie and
        an id number); the same key answers the same session."""
        ...


@dataclass(frozen=True)
class SessionOwner:
    tenant_id: str
    user_id: str
    level: int
    status: str


class KycStore(Protocol):
    """The person's verification sessions and the level rise, on the one table."""

    def record_session(self, profile: Profile, verification: Verification, attempt: int) -> None:
        """Keep `verification` as the person's current one and its `KYCSESSION` item, only while the
        profile still counts `attempt` sessions (errors.ConcurrentUpdate otherwise)."""
        ...

    def session_owner(self, session_id: str) -> SessionOwner | None:
        """Whom and what level a session was created for by this system, and its state; None if unknown."""
        ...

    def raise_level(self, profile: Profile, verification: Verification, records: list[Record]) -> None:
        """In one transaction: the profile's level becomes verification.level (only while it is lower),
        the session is marked verified, and `records` (event record, outbox) are put.
        errors.ConcurrentUpdate when the level is no longer lower or a record exists."""
        ...

    def mark_session(self, profile: Profile, verification: Verification, records: list[Record]) -> None:
        """In one transaction: the session's new status (and last error) on its item and, when it is the
        person's current session not yet verified, on the profile; with `records`."""
        ...
