"""Wallet creation (one per invoice, enforced by the table) and transformation to persistent."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from shared.auth import ADMIN, CONSUMER, MERCHANT, Principal, require_role
from shared.cards.ports import CardholderAddress, CardIssuer, IssuedCard
from shared.clock import Clock
from shared.crypto.envelope import DataKeyService, seal
from shared.crypto.keys import generate_wallet_keys
from shared.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    IdempotencyInProgress,
    InvalidState,
    NotFound,
    live_ephemeral_cap_reached,
)
from shared.ids import is_wallet_id, new_id
from shared.invoices.service import jittered_backoff
from shared.models.invoice import Invoice, InvoiceStatus
from shared.models.wallet import (
    CONSUMER_FEATURES,
    DEFAULT_TTL_SECONDS,
    FEATURES,
    FINISHED,
    MIN_TTL_SECONDS,
    Card,
    Wallet,
    WalletMode,
    WalletStatus,
    to_minor,
)
from shared.outbox.records import Record, Resource, audit_entry, domain_event, iso
from shared.wallets.mode import InvoiceTraits, choose_mode
from shared.wallets.ports import (
    CardIntent,
    DestructionScheduler,
    InvoiceFinalizer,
    InvoiceLookup,
    NewWallet,
    TenantWalletLimits,
    WalletOwners,
    WalletRepository,
)
from shared.wallets.stats import LIVE_EPHEMERAL, creation_deltas, transform_deltas

_INVOICE_ID = re.compile(r"^inv_[0-9a-z]{24}$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
STANDALONE_CURRENCY = "USD"
_T = TypeVar("_T")


def wallet_id_for_invoice(tenant_id: str, invoice_id: str) -> str:
    """The one id an invoice's wallet can have: every concurrent or retried creation computes the same, so
    they share one Stripe card (idempotency key) and one schedule (name), and the table keeps one wallet."""
    digest = int.from_bytes(hashlib.sha256(f"{tenant_id}\x1f{invoice_id}".encode()).digest(), "big")
    chars = []
    for _ in range(24):
        digest, digit = divmod(digest, 36)
        chars.append(_ALPHABET[digit])
    return "wal_" + "".join(chars)


def card_idempotency_key(wallet_id: str, generation: int = 0) -> str:
    """The issuer's key of a wallet's card: shared by concurrent and retried creations of one generation;
    a new generation (after the sweeper cancelled the card of a wallet that never committed) gets a new
    card instead of the cancelled one replayed."""
    return f"card-{wallet_id}" if generation == 0 else f"card-{wallet_id}-g{generation}"


@dataclass(frozen=True)
class CardholderProfile:
    """The business identity the issuer verifies for a tenant's company cardholder."""

    name: str
    email: str
    address: CardholderAddress


@dataclass(frozen=True)
class WalletView:
    """A wallet with its card, as one request saw them at `now`."""

    wallet: Wallet
    card: Card | None
    remaining_limit_minor: int | None
    now: datetime
    is_new: bool = False

    def to_api(self) -> dict[str, Any]:
        card = self.card.to_api(self.wallet.expires_at, self.remaining_limit_minor) if self.card else None
        return {"wallet": self.wallet.to_api(self.now), "card": card}

    def creation_answer(self) -> dict[str, Any]:
        """create-from-invoice's answer: the wallet and card, whether it is new, its mode and countdown."""
        return {
            **self.to_api(),
            "isNew": self.is_new,
            "mode": self.wallet.wallet_type.value,
            "expiresIn": self.wallet.remaining_seconds(self.now),
        }

    def standalone_answer(self) -> dict[str, Any]:
        """The answer of the v1 standalone ephemeral create."""
        return {
            "walletId": self.wallet.wallet_id,
            "address": self.wallet.evm_address,
            "solanaAddress": self.wallet.solana_address,
            "expiresAt": self.wallet.to_api(self.now)["expires_at"],
        }


def card_from_issued(issued: IssuedCard, wallet_id: str) -> Card:
    return Card(
        card_id=issued.card_id,
        wallet_id=wallet_id,
        last4=issued.last4,
        exp_month=issued.exp_month,
        exp_year=issued.exp_year,
        status=issued.status,
        spending_limit_minor=issued.spending_limit_minor,
        currency=issued.currency.upper(),
    )


def may_see(principal: Principal, tenant_id: str, customer_id: str | None) -> bool:
    """Merchants and admins see their tenant's wallets; a consumer only the wallets addressed to them.
    A payment-link caller sees nothing through this check (see may_act_on)."""
    if principal.tenant_id != tenant_id or principal.is_link:
        return False
    return principal.has_any(MERCHANT, ADMIN) or (customer_id is not None and customer_id == principal.sub)


def may_act_on(principal: Principal, wallet: Wallet) -> bool:
    """may_see, and a payment-link caller on exactly the wallet (and invoice) its link names."""
    if principal.is_link:
        return (
            principal.tenant_id == wallet.tenant_id
            and principal.link_wallet_id == wallet.wallet_id
            and principal.link_invoice_id == wallet.invoice_id
        )
    return may_see(principal, wallet.tenant_id, wallet.customer_id)


class PersistentOnly:
    """The DestructionScheduler of a process that makes only persistent wallets (the consumer function has
    no Scheduler grant): a persistent wallet has no countdown, so any call is a bug, refused loudly."""

    def schedule_destruction(self, wallet_id: str, at: datetime) -> datetime:
        raise InvalidState(f"wallet {wallet_id}: this function makes persistent wallets only")

    def cancel_destruction(self, wallet_id: str) -> None:
        raise InvalidState(f"wallet {wallet_id}: this function makes persistent wallets only")


class Cardless:
    """The CardIssuer of a process that makes only card-less wallets (the consumer function reads no Stripe
    secret: a persistent consumer wallet has no spending card), so any call is a bug, refused loudly."""

    def _refuse(self, *_: object, **__: object) -> Any:
        raise InvalidState("this function makes wallets without cards only")

    create_cardholder = create_card = get_card = deactivate_card = remaining_limit = _refuse


@dataclass(frozen=True)
class _Plan:
    wallet_id: str
    tenant_id: str
    invoice: Invoice | None
    customer_id: str | None
    mode: WalletMode
    ttl_seconds: int
    spending_limit: Decimal
    currency: str
    purpose: str | None
    announce_invoice: bool
    extra_records: tuple[Record, ...] = ()


class WalletService:
    def __init__(
        self,
        wallets: WalletRepository,
        invoices: InvoiceLookup,
        data_keys: DataKeyService,
        cards: CardIssuer,
        scheduler: DestructionScheduler,
        clock: Clock,
        cardholder: CardholderProfile,
        finalizer: InvoiceFinalizer,
        *,
        default_ttl_seconds: int = DEFAULT_TTL_SECONDS,
        max_attempts: int = 8,
        backoff: Callable[[int], None] = jittered_backoff,
        limits: TenantWalletLimits | None = None,
        owners: WalletOwners | None = None,
    ) -> None:
        self._owners = owners
        self._wallets = wallets
        self._limits = limits
        self._invoices = invoices
        self._data_keys = data_keys
        self._cards = cards
        self._scheduler = scheduler
        self._clock = clock
        self._cardholder = cardholder
        self._finalizer = finalizer
        self._default_ttl = default_ttl_seconds
        self._max_attempts = max_attempts
        self._backoff = backoff

    # -- creation ------------------------------------------------------------------------------------
    def create_for_invoice(
        self,
        principal: Principal,
        invoice_id: str,
        *,
        ttl_seconds: int | None = None,
        mode_override: WalletMode | None = None,
        announce_invoice: bool = True,
    ) -> WalletView:
        """The invoice's wallet: made now (is_new) or the one that already exists, whoever made it.

        A draft is finalized (sent) first, as Stripe finalizes an invoice before it can be paid: a wallet
        is how an invoice gets paid, so no wallet ever belongs to a draft. Only its merchant may do that."""
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        invoice = self._visible_invoice(principal, invoice_id)
        if invoice.status is InvoiceStatus.DRAFT:
            require_role(principal, MERCHANT)
        existing = self._wallet_of_invoice(principal, invoice.id)
        if existing is not None:
            return existing
        if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.VOID):
            raise InvalidState(f"an invoice that is {invoice.status.value} gets no wallet")
        if invoice.amount_due <= 0:
            raise InvalidState("the invoice has nothing left to pay")
        traits = InvoiceTraits(
            invoice.recurring, invoice.total_amount, invoice.category, invoice.payment_type
        )
        plan = _Plan(
            wallet_id=wallet_id_for_invoice(invoice.tenant_id, invoice.id),
            tenant_id=invoice.tenant_id,
            invoice=invoice,
            customer_id=invoice.customer_id,
            mode=choose_mode(traits, mode_override),
            ttl_seconds=ttl_seconds or self._default_ttl,
            spending_limit=invoice.amount_due,
            currency=invoice.currency,
            purpose="invoice",
            announce_invoice=announce_invoice,
        )
        return self._create(principal, plan)

    def create_standalone(
        self, principal: Principal, purpose: str, ttl_seconds: int, amount: Decimal | None
    ) -> WalletView:
        """An ephemeral wallet without an invoice. It is outside the one-wallet-per-invoice rule (there is
        no invoice to be unique for), so its id is random and only the caller's Idempotency-Key makes a
        retry converge; its card exists only when an amount caps it."""
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        plan = _Plan(
            wallet_id=new_id("wal"),
            tenant_id=principal.tenant_id,
            invoice=None,
            customer_id=principal.sub if not principal.has_any(MERCHANT, ADMIN) else None,
            mode=WalletMode.EPHEMERAL,
            ttl_seconds=ttl_seconds,
            spending_limit=amount or Decimal(0),
            currency=STANDALONE_CURRENCY,
            purpose=purpose,
            announce_invoice=False,
        )
        return self._create(principal, plan)

    def create_consumer_wallet(
        self, principal: Principal, wallet_id: str, records: list[Record]
    ) -> WalletView:
        """A consumer's persistent wallet (real keys and addresses, no card, no countdown), committed in one
        transaction with `records`: the consumer capability's profile and uniqueness items, each put only if
        absent. A lost condition is the caller's to judge (same person again, or an email held by another),
        so ConcurrentUpdate is raised at once, never retried here."""
        require_role(principal, CONSUMER)
        plan = _Plan(
            wallet_id=wallet_id,
            tenant_id=principal.tenant_id,
            invoice=None,
            customer_id=principal.sub,
            mode=WalletMode.PERSISTENT,
            ttl_seconds=0,
            spending_limit=Decimal(0),
            currency=STANDALONE_CURRENCY,
            purpose="consumer",
            announce_invoice=False,
            extra_records=tuple(records),
        )
        return self._create(principal, plan)

    def create_treasury_wallet(
        self, principal: Principal, wallet_id: str, records: list[Record]
    ) -> WalletView:
        """A tenant's persistent treasury wallet (real keys, no card, no countdown) under the one id the
        treasury capability derives, with `records` (its marker, put only if absent): a lost condition means
        it exists, and is the caller's to read (ConcurrentUpdate at once, never retried here)."""
        require_role(principal, MERCHANT, ADMIN)
        plan = _Plan(
            wallet_id=wallet_id,
            tenant_id=principal.tenant_id,
            invoice=None,
            customer_id=None,
            mode=WalletMode.PERSISTENT,
            ttl_seconds=0,
            spending_limit=Decimal(0),
            currency=STANDALONE_CURRENCY,
            purpose="treasury",
            announce_invoice=False,
            extra_records=tuple(records),
        )
        return self._create(principal, plan)

    def create_payroll_wallet(
        self, principal: Principal, wallet_id: str, ttl_seconds: int, records: list[Record]
    ) -> WalletView:
        """A payroll item's claim wallet: ephemeral (its destruction scheduled at expiry, as every ephemeral
        wallet's), card-less, under the id the payout derives for the item's attempt, with `records` (its
        marker, put only if absent): a lost condition means it exists (ConcurrentUpdate at once)."""
        require_role(principal, MERCHANT, ADMIN)
        plan = _Plan(
            wallet_id=wallet_id,
            tenant_id=principal.tenant_id,
            invoice=None,
            customer_id=None,
            mode=WalletMode.EPHEMERAL,
            ttl_seconds=ttl_seconds,
            spending_limit=Decimal(0),
            currency=STANDALONE_CURRENCY,
            purpose="payroll",
            announce_invoice=False,
            extra_records=tuple(records),
        )
        return self._create(principal, plan)

    def _create(self, principal: Principal, plan: _Plan) -> WalletView:
        now = self._clock.now().replace(microsecond=0)
        cap = self._live_ephemeral_cap(plan)
        # Outside calls first, the transaction last: KMS and Stripe failing leave nothing written, and
        # every outside effect is keyed by the wallet id, so a retry adopts what a failed attempt made.
        keys = generate_wallet_keys()
        sealed = seal(keys.secret_bytes(), plan.wallet_id, self._data_keys)
        card, generation = self._issue_card(plan, now) if plan.spending_limit > 0 else (None, None)
        expires_at = self._schedule(plan, now)
        ttl = int((expires_at - now).total_seconds()) if expires_at else None
        wallet = Wallet(
            wallet_id=plan.wallet_id,
            tenant_id=plan.tenant_id,
            invoice_id=plan.invoice.id if plan.invoice else None,
            customer_id=plan.customer_id,
            wallet_type=plan.mode,
            status=WalletStatus.ACTIVE,
            evm_address=keys.evm_address,
            solana_address=keys.solana_address,
            spending_limit=plan.spending_limit,
            currency=plan.currency,
            expires_at=expires_at,
            ttl_seconds=ttl,
            card_id=card.card_id if card else None,
            purpose=plan.purpose,
            created_by=principal.sub,
            created_at=now,
            updated_at=now,
        )
        if plan.invoice is not None:
            # Sent after the outside calls (a failure there leaves the draft as it was) and before the
            # commit, so that no committed wallet belongs to a draft.
            self._finalized(principal, plan.invoice)
        records = [*self._creation_records(wallet, plan, principal, now), *plan.extra_records]
        new = NewWallet(
            wallet,
            sealed,
            card,
            records,
            creation_deltas(wallet),
            live_ephemeral_cap=cap,
            card_generation=generation,
        )
        for attempt in range(self._max_attempts):
            try:
                self._wallets.create(new)
            except ConcurrentUpdate:
                if plan.extra_records:
                    raise
                # Lost the invoice's uniqueness race: the winner holds the same card (same idempotency
                # key) and the same schedule (same name), so nothing of ours needs undoing. Any other lost
                # condition (a counter racing another wallet of the tenant) is retried as is.
                if plan.invoice is not None:
                    winner = self._wallet_of_invoice(principal, plan.invoice.id)
                    if winner is not None:
                        return winner
                self._backoff(attempt)
                continue
            # A failure other than a lost race is not compensated here: a timeout may have committed. A
            # card whose wallet never committed is left to its card intent: past its deadline the sweeper
            # fences it (a retry from then on gets a new card) and cancels the card; its number was never
            # revealed. The stray schedule of an ephemeral wallet reaches destroy, which finds no wallet.
            return WalletView(wallet, card, card.spending_limit_minor if card else None, now, is_new=True)
        raise ConcurrentUpdate("too many concurrent wallet creations for this tenant; retry")

    def _live_ephemeral_cap(self, plan: _Plan) -> int | None:
        """The tenant's cap on live ephemeral wallets, refused at once when already reached: a tenant at its
        cap costs no data key, card or schedule. The creation's transaction holds the cap exactly; only
        creations racing at the edge of it can lose there after their outside calls (their schedule finds
        no wallet when it fires, as with a lost invoice race)."""
        if plan.mode is not WalletMode.EPHEMERAL or self._limits is None:
            return None
        cap = self._limits.live_ephemeral_cap(plan.tenant_id)
        if self._wallets.stats(plan.tenant_id).get(LIVE_EPHEMERAL, 0) >= cap:
            raise live_ephemeral_cap_reached(cap)
        return cap

    def _issue_card(self, plan: _Plan, now: datetime) -> tuple[Card, int]:
        holder = self._cardholder_of(plan.tenant_id)
        limit = to_minor(plan.spending_limit, plan.currency)
        # Recorded before the call: a crash or failure after it leaves a durable trace of a card whose
        # wallet may never commit, which the sweeper cancels (shared/wallets/orphan_cards.py).
        intent = CardIntent(plan.wallet_id, plan.tenant_id, holder, limit, plan.currency)
        generation = self._wallets.open_card_intent(intent, now)
        key = card_idempotency_key(plan.wallet_id, generation)
        issued = self._patiently(
            lambda: self._cards.create_card(plan.wallet_id, holder, limit, plan.currency, key)
        )
        return card_from_issued(issued, plan.wallet_id), generation

    def _cardholder_of(self, tenant_id: str) -> str:
        stored = self._wallets.cardholder(tenant_id)
        if stored is not None:
            return stored
        profile = self._cardholder
        made = self._patiently(
            lambda: self._cards.create_cardholder(
                tenant_id,
                f"{profile.name} ({tenant_id})",
                profile.email,
                profile.address,
                f"cardholder-{tenant_id}",
            )
        )
        return self._wallets.remember_cardholder(tenant_id, made)

    def _patiently(self, call: Callable[[], _T]) -> _T:
        """Concurrent creations send the same idempotency key; the issuer answers all but the first with
        "in progress" until the first finishes, after which it replays the same result."""
        for attempt in range(self._max_attempts):
            try:
                return call()
            except IdempotencyInProgress:
                if attempt == self._max_attempts - 1:
                    raise
                self._backoff(attempt)
        raise AssertionError("unreachable")

    def _schedule(self, plan: _Plan, now: datetime) -> datetime | None:
        if plan.mode is not WalletMode.EPHEMERAL:
            return None
        wanted = now + timedelta(seconds=plan.ttl_seconds)
        # Scheduled before the commit: a committed ephemeral wallet always has its exact destruction
        # trigger, and a trigger whose wallet never committed reaches destroy, which finds nothing to do.
        scheduled = self._scheduler.schedule_destruction(plan.wallet_id, wanted)
        if scheduled == wanted:
            return wanted
        if scheduled - now >= timedelta(seconds=MIN_TTL_SECONDS):
            # An earlier attempt for this very wallet already fixed its end; the record follows the trigger
            # so both agree on the second the wallet dies.
            return scheduled
        # A leftover trigger about to fire would kill the wallet at birth: replace it.
        self._scheduler.cancel_destruction(plan.wallet_id)
        return self._scheduler.schedule_destruction(plan.wallet_id, wanted)

    def _creation_records(
        self, wallet: Wallet, plan: _Plan, principal: Principal, now: datetime
    ) -> list[Record]:
        data = {
            "tenant_id": wallet.tenant_id,
            "wallet_id": wallet.wallet_id,
            "invoice_id": wallet.invoice_id,
            "wallet_type": wallet.wallet_type.value,
            "status": wallet.status.value,
            "wallet_address": wallet.evm_address,
            "expires_at": iso(wallet.expires_at) if wallet.expires_at else None,
        }
        channels = [f"invoice:{wallet.invoice_id}", "admin"] if wallet.invoice_id else ["admin"]
        changes = {
            "wallet_type": wallet.wallet_type.value,
            "invoice_id": wallet.invoice_id,
            "ttl": wallet.ttl_seconds,
        }
        records: list[Record] = [
            audit_entry(wallet.wallet_id, "wallet.created", principal.sub, wallet.tenant_id, now, changes),
            domain_event(
                "wallet:created", channels, data, now, resource=Resource("wallet", wallet.wallet_id)
            ),
        ]
        if plan.announce_invoice and plan.invoice is not None:
            invoice = plan.invoice
            invoice_data = {**data, "number": invoice.number, "customer_id": invoice.customer_id}
            records.append(
                domain_event(
                    "invoice.created", channels, invoice_data, now, resource=Resource("invoice", invoice.id)
                )
            )
        return records

    # -- transformation ------------------------------------------------------------------------------
    def transform(self, principal: Principal, wallet_id: str) -> dict[str, Any]:
        """Ephemeral or adaptive -> persistent, for good. Repeating it answers the same and finishes any
        schedule deletion a previous call did not get to. A wallet whose customer is a consumer joins that
        consumer's wallets in the same transaction (their balance, portfolio and history count it)."""
        require_role(principal, MERCHANT, ADMIN, CONSUMER)
        for _ in range(3):
            wallet = self.visible_wallet(principal, wallet_id)
            now = self._clock.now()
            if wallet.wallet_type is WalletMode.PERSISTENT:
                if wallet.transformed_at is not None:
                    self._scheduler.cancel_destruction(wallet.wallet_id)
                joined = self._owners is not None and self._owners.joined(wallet)
                return _transformed(wallet.wallet_id, joined)
            if wallet.status in FINISHED or wallet.is_expired(now):
                raise InvalidState(f"a wallet that is {wallet.status_at(now).value} cannot be transformed")
            updated = wallet.model_copy(
                update={
                    "wallet_type": WalletMode.PERSISTENT,
                    "expires_at": None,
                    "ttl_seconds": None,
                    "transformed_at": now,
                    "updated_at": now,
                    "version": wallet.version + 1,
                }
            )
            changes = {"wallet_type": {"from": wallet.wallet_type.value, "to": WalletMode.PERSISTENT.value}}
            data = {
                "tenant_id": wallet.tenant_id,
                "wallet_id": wallet.wallet_id,
                "invoice_id": wallet.invoice_id,
                "wallet_type": WalletMode.PERSISTENT.value,
                "previous_type": wallet.wallet_type.value,
                "status": wallet.status.value,
            }
            channels = [f"wallet:{wallet.wallet_id}", f"countdown:{wallet.wallet_id}", "admin"]
            if wallet.invoice_id:
                channels.insert(2, f"invoice:{wallet.invoice_id}")
            records: list[Record] = [
                audit_entry(
                    wallet.wallet_id, "wallet.transformed", principal.sub, wallet.tenant_id, now, changes
                ),
                domain_event(
                    "wallet:transformed", channels, data, now, resource=Resource("wallet", wallet.wallet_id)
                ),
            ]
            joining = self._owners.joining(wallet, now) if self._owners is not None else None
            try:
                self._wallets.transform(
                    updated, wallet, now, records, transform_deltas(wallet.wallet_type), joining or ()
                )
            except ConcurrentUpdate:
                continue
            # Deleted after the commit: deleting first and then failing to commit would leave an ephemeral
            # wallet without its exact trigger, while a trigger outliving the commit only reaches destroy,
            # which leaves persistent wallets alone. A failure here is finished by repeating the call.
            if wallet.wallet_type is WalletMode.EPHEMERAL:
                self._scheduler.cancel_destruction(wallet.wallet_id)
            return _transformed(wallet.wallet_id, joining is not None)
        raise ConcurrentUpdate("the wallet changed while it was being transformed; retry")

    # -- shared reads --------------------------------------------------------------------------------
    def visible_wallet(self, principal: Principal, wallet_id: str) -> Wallet:
        wallet = self._wallets.get(wallet_id) if is_wallet_id(wallet_id) else None
        if wallet is None or not may_see(principal, wallet.tenant_id, wallet.customer_id):
            raise NotFound("wallet not found")
        return wallet

    def _visible_invoice(self, principal: Principal, invoice_id: str) -> Invoice:
        if not _INVOICE_ID.fullmatch(invoice_id):
            raise NotFound("invoice not found")
        invoice = self._invoices.get(principal.tenant_id, invoice_id)
        if invoice is None or invoice.deleted_at is not None:
            raise NotFound("invoice not found")
        if not may_see(principal, invoice.tenant_id, invoice.customer_id):
            raise NotFound("invoice not found")
        if invoice.status is InvoiceStatus.DRAFT and not principal.has_any(MERCHANT, ADMIN):
            # A draft is the merchant's work in progress: to its customer it does not exist yet.
            raise NotFound("invoice not found")
        return invoice

    def _finalized(self, principal: Principal, invoice: Invoice) -> Invoice:
        """The invoice, sent first if it is a draft (the invoices' own transition, with its events)."""
        if invoice.status is not InvoiceStatus.DRAFT:
            return invoice
        try:
            return self._finalizer.send(principal, invoice.id)
        except InvalidState:
            # A concurrent creation (or the merchant) sent it between our read and the send; had it been
            # voided meanwhile instead, it gets no wallet.
            again = self._visible_invoice(principal, invoice.id)
            if again.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID, InvoiceStatus.PAID):
                raise
            return again

    def _wallet_of_invoice(self, principal: Principal, invoice_id: str) -> WalletView | None:
        found = self._wallets.wallet_id_for_invoice(invoice_id)
        if found is None or found[1] != principal.tenant_id:
            return None
        wallet = self._wallets.get(found[0])
        if wallet is None:
            return None
        card = self._wallets.get_card(wallet.wallet_id)
        remaining = remaining_limit(self._cards, card)
        return WalletView(wallet, card, remaining, self._clock.now())


def remaining_limit(cards: CardIssuer, card: Card | None) -> int | None:
    """What the card may still spend, from the issuer; None when the issuer cannot say right now, since a
    wallet read must not fail because Stripe is down."""
    if card is None:
        return None
    try:
        return cards.remaining_limit(card.card_id)
    except DependencyUnavailable:
        return None


def _transformed(wallet_id: str, joined_consumer: bool) -> dict[str, Any]:
    features = list(FEATURES[WalletMode.PERSISTENT])
    if joined_consumer:
        features += [f for f in CONSUMER_FEATURES if f not in features]
    return {"wallet_id": wallet_id, "new_type": WalletMode.PERSISTENT.value, "features": features}
