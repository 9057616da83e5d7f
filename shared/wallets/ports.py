"""Ports the wallet services depend on: the wallet repository, the destruction scheduler, invoice lookups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.auth import Principal
from shared.crypto.envelope import SealedSecret
from shared.models.invoice import Invoice
from shared.models.wallet import Card, Wallet
from shared.outbox.records import Record


@dataclass(frozen=True)
class CardIntent:
    """A card asked of the issuer for a wallet, recorded before the call (`WALLET#{id}`/`CARDINTENT`) and
    dropped by the wallet's commit: one still there past its deadline names a card whose wallet never
    committed, which the sweeper cancels. The generation is part of the card's idempotency key: a creation
    retried after such a cancellation gets a new card, never the cancelled one replayed."""

    wallet_id: str
    tenant_id: str
    cardholder_ref: str
    spending_limit_minor: int
    currency: str
    generation: int = 0


@dataclass(frozen=True)
class NewWallet:
    """Everything one wallet creation commits in a single transaction."""

    wallet: Wallet
    sealed_keys: SealedSecret
    card: Card | None
    records: list[Record]
    stats: dict[str, int] = field(default_factory=dict)
    # The tenant's cap on live ephemeral wallets, checked in the same transaction (None: no cap).
    live_ephemeral_cap: int | None = None
    # The generation of the card intent the card was made under; the commit drops that intent, and fails
    # (ConcurrentUpdate) if the sweeper has fenced it off to cancel the card meanwhile.
    card_generation: int | None = None


@dataclass(frozen=True)
class WalletPage:
    items: list[Wallet]
    next_cursor: str | None


class WalletOwners(Protocol):
    """Whom a wallet made persistent joins: the consumer its invoice is addressed to (shared/consumer)."""

    def joining(self, wallet: Wallet, now: datetime) -> list[Any] | None:
        """Operations joining `wallet` to the consumer that is its customer, to commit with the transform;
        None when its customer is no consumer of the tenant."""
        ...

    def joined(self, wallet: Wallet) -> bool:
        """Whether `wallet` joined a consumer's wallets."""
        ...


class WalletRepository(Protocol):
    """Wallets and the items around them (keys, card, invoice uniqueness, lease, per-tenant counters).

    Writes are single transactions guarded by conditions; a lost condition raises errors.ConcurrentUpdate.
    """

    def create(self, new: NewWallet) -> None:
        """Commit the wallet, its sealed keys, card, invoice uniqueness item (when it has an invoice), lease
        (when it expires), records and counter deltas; ConcurrentUpdate if the invoice already has a wallet
        or the wallet id exists, RateLimited if the tenant already holds `live_ephemeral_cap` live ephemeral
        wallets."""
        ...

    def get(self, wallet_id: str) -> Wallet | None: ...

    def wallet_id_for_invoice(self, invoice_id: str) -> tuple[str, str] | None:
        """(wallet_id, tenant_id) of the invoice's wallet, read strongly consistent, or None."""
        ...

    def get_card(self, wallet_id: str) -> Card | None: ...

    def sealed_keys(self, wallet_id: str) -> SealedSecret | None: ...

    def erase_keys(self, wallet_id: str, erased_at: datetime, records: list[Record]) -> None:
        """Remove the wrapped data key (cryptographic erase) and write `records`; idempotent."""
        ...

    def transform(
        self,
        updated: Wallet,
        expected: Wallet,
        now: datetime,
        records: list[Record],
        stats: dict[str, int],
        also: Sequence[Any] = (),
    ) -> None:
        """Persist `updated` (a type change) if the stored wallet still is `expected` and has not expired by
        `now`; drop the lease in the same transaction, with `also` (the wallet joining its consumer)."""
        ...

    def stats(self, tenant_id: str) -> dict[str, int]:
        """The tenant's wallet counters (empty before the first wallet)."""
        ...

    def active_page(self, tenant_id: str, limit: int, cursor: str | None) -> WalletPage:
        """A page of the tenant's active wallets, newest first; a foreign cursor is ValidationFailed."""
        ...

    def cardholder(self, tenant_id: str) -> str | None: ...

    def open_card_intent(self, intent: CardIntent, now: datetime) -> int:
        """Record (or renew) the wallet's card intent with a deadline, before the issuer is called; returns
        its generation (0 until the sweeper has cancelled a card of this wallet id)."""
        ...

    def remember_cardholder(self, tenant_id: str, cardholder_ref: str) -> str:
        """Store the tenant's cardholder unless one is stored already; returns the stored one."""
        ...


class CardIntentStore(Protocol):
    """The sweeper's side of card intents (shared/wallets/orphan_cards.py)."""

    def card_intent(self, wallet_id: str) -> CardIntent | None: ...

    def fence(self, intent: CardIntent, token: str, now: datetime) -> bool:
        """In one transaction, while the intent's claim position still is `token`: move the intent to the
        next generation (a creation from now on asks for a new card) and record the cancellation of this
        generation's card as a claim due now. False when a creation renewed the intent meanwhile."""
        ...

    def cancellation(self, wallet_id: str, generation: int) -> CardIntent | None: ...

    def cancelled(self, intent: CardIntent, card_id: str, now: datetime) -> None:
        """Mark the cancellation done (out of the claim index), with the card it cancelled."""
        ...


class TenantWalletLimits(Protocol):
    def live_ephemeral_cap(self, tenant_id: str) -> int:
        """How many live ephemeral wallets the tenant may hold (a tenant setting)."""
        ...


class DestructionScheduler(Protocol):
    """One-time triggers of a wallet's destruction at its expiry."""

    def schedule_destruction(self, wallet_id: str, at: datetime) -> datetime:
        """Make sure a trigger for `wallet_id` exists; returns its instant (an existing one's, if any)."""
        ...

    def cancel_destruction(self, wallet_id: str) -> None:
        """Delete the trigger; a trigger that is already gone is fine."""
        ...


class InvoiceLookup(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None: ...


class InvoiceFinalizer(Protocol):
    """Sends a draft (the invoices' own transition, with its events): shared.invoices InvoiceService."""

    def send(self, principal: Principal, invoice_id: str) -> Invoice: ...
