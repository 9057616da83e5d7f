"""Consumer use cases: onboarding, KYC limits, internal transfers, balances, history and preferences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.auth import CONSUMER, Principal, require_role
from shared.clock import Clock
from shared.consumer.ports import ConsumerStore, ConsumerWallets, CounterCharge, ExchangeRates, Rate
from shared.consumer.records import (
    COINS,
    KYC_LEVELS,
    ConsumerTransaction,
    KycLevel,
    Preferences,
    Profile,
    TransactionStatus,
    TransactionType,
    Window,
    format_token,
    format_usd,
    limit_of,
    token_minor,
    usd_micro,
    windows_at,
)
from shared.errors import ConcurrentUpdate, Conflict, LimitExceeded, NotFound, ValidationFailed
from shared.ids import derived_id, new_id
from shared.invoices.service import jittered_backoff
from shared.ledger import movements
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS
from shared.ledger.journal import JournalKind, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.models.wallet import CONSUMER_FEATURES, Wallet
from shared.outbox.records import Record, Resource, audit_entry, domain_event, iso

FREE = "0.00"


def consumer_wallet_id(tenant_id: str, user_id: str) -> str:
    """The one id a person's first wallet can have: concurrent or retried onboardings all compute it, so
    the table keeps one wallet per person."""
    return derived_id("wal", "consumer", tenant_id, user_id)


def consumer_channel(user_id: str) -> str:
    """The outbox channel of one person's events; a connection subscribing to `consumer` follows its own."""
    return f"consumer:{user_id}"


def wallet_view(wallet: Wallet) -> dict[str, Any]:
    return {
        "wallet_id": wallet.wallet_id,
        "wallet_type": wallet.wallet_type.value,
        "wallet_address": wallet.evm_address,
        "solana_address": wallet.solana_address,
        "status": wallet.status.value,
        "features": list(CONSUMER_FEATURES),
        "created_at": iso(wallet.created_at),
    }


class ConsumerService:
    def __init__(
        self,
        store: ConsumerStore,
        wallets: Callable[[], ConsumerWallets],
        ledger: LedgerStore,
        rates: ExchangeRates,
        clock: Clock,
        *,
        max_attempts: int = 12,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._store = store
        self._wallets = wallets
        self._ledger = ledger
        self._rates = rates
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff

    # -- people ---------------------------------------------------------------------------------------
    def onboard(self, principal: Principal, email: str, phone: str) -> tuple[bool, dict[str, Any]]:
        """(created, answer): the person's profile and wallet, made now or as made before. A repeat answers
        what is stored whatever its body (changing email or phone is not onboarding)."""
        require_role(principal, CONSUMER)
        existing = self._store.profile(principal.tenant_id, principal.sub)
        if existing is not None:
            return False, self._onboarded(principal, existing)
        self._refuse_taken(principal, email, phone)
        now = self._clock.now().replace(microsecond=0)
        profile = Profile(
            tenant_id=principal.tenant_id,
            user_id=principal.sub,
            email=email,
            phone=phone,
            wallet_id=consumer_wallet_id(principal.tenant_id, principal.sub),
            kyc_level=1,
            created_at=now,
        )
        records: list[Record] = [
            *self._store.onboarding_records(profile),
            audit_entry(profile.user_id, "consumer.onboarded", principal.sub, principal.tenant_id, now, {}),
        ]
        try:
            view = self._wallets().create_consumer_wallet(principal, profile.wallet_id, records)
        except ConcurrentUpdate:
            # The same person onboarding concurrently (their profile now exists), or an email or phone
            # taken meanwhile by someone else.
            again = self._store.profile(principal.tenant_id, principal.sub)
            if again is not None:
                return False, self._onboarded(principal, again)
            self._refuse_taken(principal, email, phone)
            raise
        return True, self._answer(profile, view.wallet)

    def _refuse_taken(self, principal: Principal, email: str, phone: str) -> None:
        for kind, value in (("email", email), ("phone", phone)):
            holder = self._store.holder_of(principal.tenant_id, kind, value)
            if holder is not None and holder != principal.sub:
                detail = {
                    "field": kind,
                    "message": f"this {kind} belongs to another consumer",
                    "type": "conflict",
                }
                raise Conflict(f"{kind} already registered", [detail])

    def _onboarded(self, principal: Principal, profile: Profile) -> dict[str, Any]:
        return self._answer(profile, self._wallets().visible_wallet(principal, profile.wallet_id))

    def _answer(self, profile: Profile, wallet: Wallet) -> dict[str, Any]:
        return {"user": profile.to_api(), "wallet": wallet_view(wallet), "limits": self._limits_of(profile)}

    def profile(self, principal: Principal) -> Profile:
        require_role(principal, CONSUMER)
        found = self._store.profile(principal.tenant_id, principal.sub)
        if found is None:
            raise NotFound("consumer not onboarded; POST /api/consumer/onboard first")
        return found

    # -- limits ---------------------------------------------------------------------------------------
    def limits(self, principal: Principal) -> dict[str, Any]:
        return self._limits_of(self.profile(principal))

    def _limits_of(self, profile: Profile) -> dict[str, Any]:
        level = KYC_LEVELS[profile.kyc_level]
        windows = windows_at(self._clock.now())
        used = self._store.usage(profile.tenant_id, profile.user_id, windows)
        answer: dict[str, Any] = {"kyc_level": level.level}
        for window in windows:
            limit, spent = limit_of(level, window), used.get(window.counter_id, 0)
            answer[window.name.value] = {
                "limit": format_usd(limit),
                "used": format_usd(spent),
                "remaining": format_usd(max(0, limit - spent)),
                "resets_at": iso(window.resets_at),
            }
        following = KYC_LEVELS.get(level.level + 1)
        answer["next_level"] = (
            {
                "level": following.level,
                "daily_limit": format_usd(following.daily_limit),
                "monthly_limit": format_usd(following.monthly_limit),
                "requires": list(following.requires),
            }
            if following
            else None
        )
        # The latest upgrade asked for: pending, requires_input (with Stripe's last_error), verified.
        answer["verification"] = profile.verification.to_api() if profile.verification else None
        return answer

    def _refuse_over_limit(
        self, level: KycLevel, windows: tuple[Window, ...], used: dict[str, int], requested: int
    ) -> None:
        over = []
        for window in windows:
            limit, spent = limit_of(level, window), used.get(window.counter_id, 0)
            if spent + requested > limit:
                over.append(
                    {
                        "window": window.name.value,
                        "limit": format_usd(limit),
                        "used": format_usd(spent),
                        "requested": format_usd(requested),
                        "resets_at": iso(window.resets_at),
                    }
                )
        if over:
            raise LimitExceeded(f"KYC level {level.level} limit exceeded", over)

    def limit_charges(self, profile: Profile, usd: int, now: datetime) -> list[CounterCharge]:
        """The person's counter charges for `usd` micro-USD moved now; LimitExceeded (with details) when
        it does not fit as read. The charges' guards check it again in the movement's transaction."""
        level, windows = KYC_LEVELS[profile.kyc_level], windows_at(now)
        used = self._store.usage(profile.tenant_id, profile.user_id, windows)
        self._refuse_over_limit(level, windows, used, usd)
        return [CounterCharge(window, limit_of(level, window), usd) for window in windows]

    def usd_value(self, coin: str, token_amount: int) -> int:
        """The micro-USD value `token_amount` of `coin` counts for against limits (rounded up)."""
        return usd_micro(token_amount, self._rate_of(coin).usd)

    # -- money ----------------------------------------------------------------------------------------
    def transfer(
        self,
        principal: Principal,
        to: str,
        amount: Decimal,
        currency: str,
        memo: str | None,
        also: Sequence[Any] = (),
    ) -> dict[str, Any]:
        """An internal transfer to another consumer of the tenant: one ledger transaction holding the
        journal, the sender's limit counters (guarded), both history lines and the events, and `also` (the
        caller's guarded operations, such as a request to pay marked paid)."""
        sender = self.profile(principal)
        recipient = self._recipient(principal.tenant_id, to)
        if recipient.user_id == sender.user_id:
            detail = {"field": "to", "message": "a transfer needs another consumer", "type": "value_error"}
            raise ValidationFailed("cannot transfer to yourself", [detail])
        txn_id = new_id("txn")
        return self._send(sender, recipient, token_minor(amount), currency, memo, txn_id, also)

    def pay_merchant(
        self,
        payer: Profile,
        invoice_id: str,
        minor: int,
        currency: str,
        memo: str,
    ) -> None:
        """An invoice of the tenant paid from the payer's wallet into the tenant's settlement account, as an
        internal transfer: the same one transaction with the payer's limit counters inside. Its id follows
        from the invoice, so paying the same invoice again posts nothing twice (and is not refused by the
        limit the first payment used)."""
        txn_id = "txn_" + journal_id_for(JournalKind.TRANSFER, "invoice", invoice_id).removeprefix("jrn_")
        if self._ledger.journal(journal_id_for(JournalKind.TRANSFER, txn_id)) is not None:
            return
        self._send(payer, None, minor, currency, memo, txn_id, (), f"invoice:{invoice_id}")

    def _send(
        self,
        sender: Profile,
        recipient: Profile | None,
        minor: int,
        currency: str,
        memo: str | None,
        txn_id: str,
        also: Sequence[Any],
        counterparty: str | None = None,
    ) -> dict[str, Any]:
        """`minor` of `currency` from the sender's wallet to a consumer's, or to the tenant's settlement
        account (`recipient` None), with the sender's limit charged in the same transaction."""
        usd = usd_micro(minor, self._rate_of(currency).usd)
        now = self._clock.now()
        level, windows = KYC_LEVELS[sender.kyc_level], windows_at(now)
        destination = (
            Account.wallet(recipient.wallet_id, currency)
            if recipient is not None
            else Account.settlement(sender.tenant_id, currency)
        )
        journal = movements.transfer(
            operation_id=txn_id,
            source=Account.wallet(sender.wallet_id, currency),
            destination=destination,
            amount=minor,
            created_at=now,
            transaction_id=txn_id,
            tenant_id=sender.tenant_id,
        )

        def line(kind: TransactionType, other: str) -> ConsumerTransaction:
            return ConsumerTransaction(
                txn_id,
                kind,
                minor,
                currency,
                TransactionStatus.COMPLETED,
                other,
                None,
                now,
                now,
                journal.id,
                memo,
            )

        sent = line(TransactionType.TRANSFER_SENT, recipient.user_id if recipient else counterparty or "")
        history = [(sender.user_id, sent)]
        if recipient is not None:
            history.append((recipient.user_id, line(TransactionType.TRANSFER_RECEIVED, sender.user_id)))
        for attempt in range(self._max_attempts):
            used = self._store.usage(sender.tenant_id, sender.user_id, windows)
            self._refuse_over_limit(level, windows, used, usd)
            charges = [CounterCharge(window, limit_of(level, window), usd) for window in windows]
            events = self._transfer_events(sender, recipient, sent, now)
            operations = self._store.movement_operations(
                sender.tenant_id, sender.user_id, charges, history, events
            )
            try:
                self._ledger.post(journal, [*also, *operations])
            except ConcurrentUpdate:
                # A counter moved since it was read (a concurrent transfer of the same person): read it
                # again; the limit check above refuses once what is left no longer fits.
                self._backoff(attempt)
                continue
            return {"transaction": sent.to_api(), "fee": FREE, "provider": None}
        raise ConcurrentUpdate("too many concurrent transfers of this consumer; retry")

    def _transfer_events(
        self, sender: Profile, recipient: Profile | None, sent: ConsumerTransaction, now: datetime
    ) -> list[Record]:
        common = {
            "tenant_id": sender.tenant_id,
            "transaction_id": sent.id,
            "amount": format_token(sent.amount),
            "currency": sent.currency,
        }
        events = [
            domain_event(
                "transfer:sent",
                [consumer_channel(sender.user_id)],
                {**common, "to": recipient.user_id if recipient else sent.counterparty},
                now,
                resource=Resource("consumer", sender.user_id),
            )
        ]
        if recipient is not None:
            events.append(
                domain_event(
                    "transfer:received",
                    [consumer_channel(recipient.user_id)],
                    {**common, "from": sender.user_id},
                    now,
                    resource=Resource("consumer", recipient.user_id),
                )
            )
        people = [sender] if recipient is None else [sender, recipient]
        return [
            *events,
            *(
                domain_event(
                    "balance:updated",
                    [consumer_channel(who.user_id)],
                    {"tenant_id": who.tenant_id, "wallet_id": who.wallet_id, "currency": sent.currency},
                    now,
                    resource=Resource("consumer", who.user_id),
                )
                for who in people
            ),
        ]

    def recipient(self, tenant_id: str, to: str) -> Profile:
        """A consumer of the tenant named by user id, email or phone (NotFound otherwise)."""
        return self._recipient(tenant_id, to)

    def refuse_over_limit(
        self, level: KycLevel, windows: tuple[Window, ...], used: dict[str, int], requested: int
    ) -> None:
        """LimitExceeded (with each window passed) unless `requested` micro-USD more fits every window."""
        self._refuse_over_limit(level, windows, used, requested)

    def _recipient(self, tenant_id: str, to: str) -> Profile:
        text = to.strip()
        if "@" in text:
            user_id = self._store.holder_of(tenant_id, "email", text.lower())
        elif text.startswith("+"):
            user_id = self._store.holder_of(tenant_id, "phone", text)
        else:
            user_id = text
        found = self._store.profile(tenant_id, user_id) if user_id else None
        if found is None:
            raise NotFound("recipient not found")
        return found

    def _rate_of(self, coin: str) -> Rate:
        return self._rates.usd_rate(STABLECOINS[coin])

    # -- reads ----------------------------------------------------------------------------------------
    def _holdings(self, profile: Profile) -> list[tuple[str, int]]:
        """Per coin, what the person's wallets hold together: the onboarding wallet and every invoice wallet
        that joined it when made persistent."""
        wallets = (profile.wallet_id, *profile.joined_wallets)
        accounts = [Account.wallet(wallet_id, coin) for wallet_id in wallets for coin in COINS]
        balances = self._ledger.balances(accounts)
        return [(coin, sum(balances[Account.wallet(w, coin)] for w in wallets)) for coin in COINS]

    def balance(self, principal: Principal) -> dict[str, Any]:
        holdings = self._holdings(self.profile(principal))
        total = sum(usd_micro(amount, self._rate_of(coin).usd) for coin, amount in holdings if amount)
        return {
            "balances": [
                {"currency": coin, "available": format_token(amount), "pending": FREE}
                for coin, amount in holdings
            ],
            "total_usd": format_usd(total),
        }

    def portfolio(self, principal: Principal, primary_provider: str | None) -> dict[str, Any]:
        holdings = self._holdings(self.profile(principal))
        breakdown, total, as_of = [], 0, self._clock.now()
        for coin, amount in holdings:
            if not amount:
                continue
            rate = self._rate_of(coin)
            as_of = min(as_of, rate.as_of)
            value = usd_micro(amount, rate.usd)
            total += value
            breakdown.append(
                {
                    "currency": coin,
                    "amount": format_token(amount),
                    # Custody per provider begins with deposits (next slice); internal moves have none.
                    "provider": None,
                    "usd_value": format_usd(value),
                    "rate": f"{rate.usd}",
                }
            )
        return {
            "total_usd": format_usd(total),
            "rates_as_of": iso(as_of),
            "breakdown": breakdown,
            "primary_provider": primary_provider,
        }

    def transactions(
        self,
        principal: Principal,
        kind: str | None,
        currency: str | None,
        limit: int,
        cursor: str | None,
    ) -> dict[str, Any]:
        profile = self.profile(principal)
        wanted = TransactionType(kind) if kind else None
        page = self._store.transactions(profile.tenant_id, profile.user_id, wanted, currency, limit, cursor)
        return {"transactions": [t.to_api() for t in page.items], "next_cursor": page.next_cursor}

    # -- preferences ----------------------------------------------------------------------------------
    def preferences(self, principal: Principal) -> dict[str, Any]:
        return self.profile(principal).preferences.to_api()

    def update_preferences(self, principal: Principal, changes: dict[str, Any]) -> dict[str, Any]:
        profile = self.profile(principal)
        updated: Preferences = profile.preferences.merged(changes)
        self._store.save_preferences(profile.tenant_id, profile.user_id, updated, self._clock.now())
        return updated.to_api()
