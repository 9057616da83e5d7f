"""In-memory fakes of every port the wallet services use, with the table's conditions and atomicity."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.auth import MERCHANT as MERCHANT_ROLE
from shared.auth import Principal, require_role
from shared.cards.ports import CardholderAddress, IssuedCard
from shared.clock import FixedClock
from shared.crypto.envelope import DataKey, SealedSecret, erase
from shared.errors import ConcurrentUpdate, DependencyUnavailable, IdempotencyInProgress
from shared.models.invoice import Invoice, InvoiceLine, InvoiceStatus, next_status
from shared.models.wallet import Card, Wallet
from shared.wallets.ports import CardIntent, NewWallet, WalletPage
from shared.wallets.service import CardholderProfile, WalletService
from tests.support.events import as_items

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))
ADMIN = Principal("admin-1", "tenant-a", frozenset({"admin"}))
CUSTOMER = Principal("cus_alice", "tenant-a", frozenset({"consumer"}))
STRANGER = Principal("cus_bob", "tenant-a", frozenset({"consumer"}))
OTHER_TENANT = Principal("merchant-9", "tenant-b", frozenset({"merchant"}))
PROFILE = CardholderProfile(
    "Test merchant", "ops@test.example", CardholderAddress("1 Main St", "Springfield", "12345", "US")
)


def invoice(**overrides: Any) -> Invoice:
    values: dict[str, Any] = {
        "id": "inv_" + "a" * 24,
        "number": "INV-00001",
        "tenant_id": "tenant-a",
        "customer_id": "cus_alice",
        "currency": "USD",
        "status": InvoiceStatus.SENT,
        "line_items": [
            InvoiceLine(
                description="Work",
                quantity=1,
                unit_price=Decimal("250.00"),
                tax_rate=Decimal(0),
                amount=Decimal("250.00"),
                tax_amount=Decimal(0),
            )
        ],
        "subtotal": Decimal("250.00"),
        "tax_amount": Decimal(0),
        "total_amount": Decimal("250.00"),
        "due_date": date(2030, 2, 1),
        "created_by": "merchant-1",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Invoice(**values)


class FakeInvoices:
    def __init__(self, *invoices: Invoice) -> None:
        self.items = {(i.tenant_id, i.id): i for i in invoices}

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return self.items.get((tenant_id, invoice_id))


class FakeFinalizer:
    """The invoices' send transition over FakeInvoices: merchants only, drafts only, each send recorded."""

    def __init__(self, invoices: FakeInvoices) -> None:
        self._invoices = invoices
        self.sent: list[str] = []
        self.before_send: Callable[[], None] | None = None

    def send(self, principal: Principal, invoice_id: str) -> Invoice:
        require_role(principal, MERCHANT_ROLE)
        if self.before_send is not None:
            self.before_send()
        key = (principal.tenant_id, invoice_id)
        stored = self._invoices.items[key]
        target = next_status(stored.status, "send")
        updated = stored.model_copy(update={"status": target, "sent_at": NOW, "updated_at": NOW})
        self._invoices.items[key] = updated
        self.sent.append(invoice_id)
        return updated


class FakeKms:
    """Wraps data keys with a master key bound to the encryption context; can be told to be down."""

    def __init__(self) -> None:
        self._master = AESGCM(secrets.token_bytes(32))
        self.down = False
        self.generated = 0

    def generate_data_key(self, context: dict[str, str]) -> DataKey:
        if self.down:
            raise DependencyUnavailable("KMS is unavailable")
        self.generated += 1
        plaintext = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        wrapped = nonce + self._master.encrypt(nonce, plaintext, repr(sorted(context.items())).encode())
        return DataKey(plaintext=plaintext, wrapped=wrapped, key_id="fake-key")

    def decrypt_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], repr(sorted(context.items())).encode())


class FakeCards:
    """An issuer that honours idempotency keys: the same key returns the same card."""

    def __init__(self) -> None:
        self.cards: dict[str, IssuedCard] = {}
        self.by_key: dict[str, str] = {}
        self.holders: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.down = False
        self.in_progress_answers = 0
        self.spent: dict[str, int] = {}

    def create_cardholder(
        self, tenant_id: str, name: str, email: str, address: CardholderAddress, idempotency_key: str
    ) -> str:
        self.calls.append(("create_cardholder", idempotency_key))
        if self.down:
            raise DependencyUnavailable("Stripe is unavailable")
        return self.holders.setdefault(idempotency_key, f"ich_{len(self.holders) + 1}")

    def create_card(
        self,
        wallet_id: str,
        cardholder_ref: str,
        spending_limit_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> IssuedCard:
        self.calls.append(
            ("create_card", (wallet_id, cardholder_ref, spending_limit_minor, currency, idempotency_key))
        )
        if self.down:
            raise DependencyUnavailable("Stripe is unavailable")
        if self.in_progress_answers:
            self.in_progress_answers -= 1
            raise IdempotencyInProgress("in progress")
        if idempotency_key in self.by_key:
            return self.cards[self.by_key[idempotency_key]]
        card = IssuedCard(
            f"ic_{len(self.cards) + 1}",
            "4242",
            12,
            2032,
            "active",
            spending_limit_minor,
            currency.lower(),
            wallet_id,
        )
        self.cards[card.card_id] = card
        self.by_key[idempotency_key] = card.card_id
        return card

    def get_card(self, card_id: str) -> IssuedCard:
        return self.cards[card_id]

    def deactivate_card(self, card_id: str, idempotency_key: str) -> IssuedCard:
        self.cards[card_id] = replace(self.cards[card_id], status="canceled")
        return self.cards[card_id]

    def remaining_limit(self, card_id: str) -> int:
        if self.down:
            raise DependencyUnavailable("Stripe is unavailable")
        return self.cards[card_id].spending_limit_minor - self.spent.get(card_id, 0)


class FakeScheduler:
    def __init__(self) -> None:
        self.schedules: dict[str, datetime] = {}
        self.cancelled: list[str] = []
        self.down = False

    def schedule_destruction(self, wallet_id: str, at: datetime) -> datetime:
        if self.down:
            raise DependencyUnavailable("Scheduler is unavailable")
        return self.schedules.setdefault(wallet_id, at.replace(microsecond=0))

    def cancel_destruction(self, wallet_id: str) -> None:
        self.cancelled.append(wallet_id)
        self.schedules.pop(wallet_id, None)


class FakeWallets:
    """The repository with the transaction's all-or-nothing and its attribute_not_exists conditions."""

    def __init__(self) -> None:
        self.wallets: dict[str, Wallet] = {}
        self.keys: dict[str, SealedSecret] = {}
        self.cards: dict[str, Card] = {}
        self.unique: dict[str, tuple[str, str]] = {}
        self.leases: dict[str, int] = {}
        self.records: list[dict[str, Any]] = []
        self.joined: list[Any] = []  # operations a transform committed beside the wallet (its consumer join)
        self.counters: dict[str, dict[str, int]] = {}
        self.holders: dict[str, str] = {}
        # Open card intents: wallet id -> generation (the commit drops the one its card was made under).
        self.card_intents: dict[str, int] = {}
        self.writes = 0
        self.before_create: Callable[[NewWallet], None] | None = None

    def snapshot(self) -> tuple[Any, ...]:
        return (
            dict(self.wallets),
            dict(self.keys),
            dict(self.cards),
            dict(self.unique),
            dict(self.leases),
            list(self.records),
            {t: dict(c) for t, c in self.counters.items()},
        )

    def create(self, new: NewWallet) -> None:
        if self.before_create is not None:
            hook, self.before_create = self.before_create, None
            hook(new)
        wallet = new.wallet
        if wallet.wallet_id in self.wallets or (wallet.invoice_id and wallet.invoice_id in self.unique):
            raise ConcurrentUpdate("a concurrent change won; retry")
        if new.card_generation is not None:
            if self.card_intents.get(wallet.wallet_id) != new.card_generation:
                raise ConcurrentUpdate("the card intent was fenced off")
            del self.card_intents[wallet.wallet_id]
        self.writes += 1
        self.wallets[wallet.wallet_id] = wallet
        self.keys[wallet.wallet_id] = new.sealed_keys
        if new.card:
            self.cards[wallet.wallet_id] = new.card
        if wallet.invoice_id:
            self.unique[wallet.invoice_id] = (wallet.wallet_id, wallet.tenant_id)
        if wallet.expires_at:
            self.leases[wallet.wallet_id] = int(wallet.expires_at.timestamp())
        self.records.extend(as_items(new.records))
        self._add(wallet.tenant_id, new.stats)

    def _add(self, tenant_id: str, deltas: dict[str, int]) -> None:
        counters = self.counters.setdefault(tenant_id, {})
        for name, delta in deltas.items():
            counters[name] = counters.get(name, 0) + delta

    def get(self, wallet_id: str) -> Wallet | None:
        return self.wallets.get(wallet_id)

    def wallet_id_for_invoice(self, invoice_id: str) -> tuple[str, str] | None:
        return self.unique.get(invoice_id)

    def get_card(self, wallet_id: str) -> Card | None:
        return self.cards.get(wallet_id)

    def sealed_keys(self, wallet_id: str) -> SealedSecret | None:
        return self.keys.get(wallet_id)

    def erase_keys(self, wallet_id: str, erased_at: datetime, records: list[dict[str, Any]]) -> None:
        self.keys[wallet_id] = erase(self.keys[wallet_id])
        self.records.extend(as_items(records))

    def transform(
        self,
        updated: Wallet,
        expected: Wallet,
        now: datetime,
        records: list[dict[str, Any]],
        stats: dict[str, int],
        also: Sequence[Any] = (),
    ) -> None:
        stored = self.wallets[updated.wallet_id]
        if stored != expected or (stored.expires_at is not None and stored.expires_at <= now):
            raise ConcurrentUpdate("a concurrent change won; retry")
        self.writes += 1
        self.wallets[updated.wallet_id] = updated
        self.leases.pop(updated.wallet_id, None)
        self.records.extend(as_items(records))
        self.joined.extend(also)
        self._add(updated.tenant_id, stats)

    def stats(self, tenant_id: str) -> dict[str, int]:
        return dict(self.counters.get(tenant_id, {}))

    def active_page(self, tenant_id: str, limit: int, cursor: str | None) -> WalletPage:
        items = sorted(
            (w for w in self.wallets.values() if w.tenant_id == tenant_id),
            key=lambda w: (w.created_at, w.wallet_id),
            reverse=True,
        )
        return WalletPage(items[:limit], None)

    def cardholder(self, tenant_id: str) -> str | None:
        return self.holders.get(tenant_id)

    def remember_cardholder(self, tenant_id: str, cardholder_ref: str) -> str:
        return self.holders.setdefault(tenant_id, cardholder_ref)

    def open_card_intent(self, intent: CardIntent, now: datetime) -> int:
        return self.card_intents.setdefault(intent.wallet_id, intent.generation)


class World:
    """A service over fresh fakes, at a fixed instant."""

    def __init__(self, *invoices: Invoice) -> None:
        self.clock = FixedClock(NOW)
        self.invoices = FakeInvoices(*(invoices or (invoice(),)))
        self.wallets = FakeWallets()
        self.kms = FakeKms()
        self.cards = FakeCards()
        self.scheduler = FakeScheduler()
        self.backoffs: list[int] = []
        self.finalizer = FakeFinalizer(self.invoices)
        self.service = WalletService(
            self.wallets,
            self.invoices,
            self.kms,
            self.cards,
            self.scheduler,
            self.clock,
            PROFILE,
            self.finalizer,
            backoff=self.backoffs.append,
        )
