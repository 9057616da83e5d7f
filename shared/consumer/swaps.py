"""Swaps between a consumer's stablecoins: a quote that lives 30 seconds, then a burn of one coin and a mint
of the other at the provider, with a journal that moves the reserve between their backing currencies.

Amounts: the fee (SWAP_FEE_BPS of the amount, at least one unit) stays with the tenant in the `from` coin
together with any dust below a cent, so the burned and minted amounts are whole cents of their backing
currencies and the reserve (kept in cents) moves by exactly what the supply does. Swaps never count against
the KYC limits (API.md).

Money path: the amount is first held from the wallet in the swap's own account (with the quote consumed, in
one transaction), then the provider burns and mints under keys of the swap, then one journal settles it. A
provider refusal of the burn returns the hold; an outage after the hold leaves the swap `processing` (its
keys make the provider calls safe to send again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any, Protocol

from shared.auth import Principal
from shared.clock import Clock
from shared.consumer.ports import ConsumerStore, ExchangeRates
from shared.consumer.providers import SERVES
from shared.consumer.records import (
    ConsumerTransaction,
    Profile,
    TransactionStatus,
    TransactionType,
    format_token,
    token_minor,
)
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import (
    ConcurrentUpdate,
    InsufficientBalance,
    InvalidState,
    NotFound,
    ProviderUnavailable,
    QuoteExpired,
    SlippageExceeded,
    ValidationFailed,
)
from shared.funding.ports import ProviderGateway, WalletReader
from shared.ids import new_id
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS, fiat_to_token, token_to_fiat
from shared.ledger.journal import Entry, Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.outbox.records import Record, Resource, domain_event, iso
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset

QUOTE_LIFETIME = timedelta(seconds=30)
SWAP_FEE_BPS = 10
RATE_PLACES = Decimal("0.000001")
_CENT_UNITS = 10_000  # token minor units (6 decimals) in one cent of the backing currency


class SwapState(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Quote:
    id: str
    tenant_id: str
    user_id: str
    from_coin: str
    to_coin: str
    amount: int
    """What leaves the wallet: the burned amount and the fee."""
    burned: int
    fee: int
    rate: Decimal
    to_amount: int
    created_at: datetime
    expires_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "quote_id": self.id,
            "from": self.from_coin,
            "to": self.to_coin,
            "rate": f"{self.rate}",
            "from_amount": format_token(self.amount),
            "to_amount": format_token(self.to_amount),
            "fee": format_token(self.fee),
            "expires_at": iso(self.expires_at),
        }


@dataclass(frozen=True)
class Swap:
    id: str
    quote: Quote
    wallet_id: str
    provider: str
    state: SwapState
    transaction_id: str
    created_at: datetime
    settled_at: datetime | None = None


class SwapStore(Protocol):
    def put_quote(self, quote: Quote) -> None: ...

    def quote(self, tenant_id: str, user_id: str, quote_id: str) -> Quote | None: ...

    def swap_of(self, tenant_id: str, user_id: str, swap_id: str) -> Swap | None: ...

    def start(self, swap: Swap, now: datetime) -> list[Any]:
        """Operations: the quote marked used (only while unused and unexpired at `now`), the swap put."""
        ...

    def finish(self, swap: Swap) -> Any:
        """The operation moving the swap from processing to `swap.state` (and out of the claim index)."""
        ...


def _netted(moves: dict[Account, int]) -> tuple[Entry, ...]:
    return tuple(debit(a, n) if n > 0 else credit(a, -n) for a, n in sorted(moves.items()) if n)


def _whole_cents(units: int) -> int:
    return units - units % _CENT_UNITS


class SwapService:
    def __init__(
        self,
        consumer: ConsumerService,
        store: ConsumerStore,
        swaps: SwapStore,
        ledger: LedgerStore,
        rates: ExchangeRates,
        wallets: WalletReader,
        router: Callable[[], ProviderGateway],
        clock: Clock,
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._swaps = swaps
        self._ledger = ledger
        self._rates = rates
        self._wallets = wallets
        self._router = router
        self._clock = clock

    # -- quotes ---------------------------------------------------------------------------------------
    def quote(self, principal: Principal, from_coin: str, to_coin: str, amount: Decimal) -> dict[str, Any]:
        quote = self._priced(self._consumer.profile(principal), from_coin, to_coin, token_minor(amount))
        self._swaps.put_quote(quote)
        return quote.to_api()

    def _rate(self, from_coin: str, to_coin: str) -> Decimal:
        """Units of `to_coin` per unit of `from_coin`, from their backing currencies' USD rates."""
        source = self._rates.usd_rate(STABLECOINS[from_coin]).usd
        target = self._rates.usd_rate(STABLECOINS[to_coin]).usd
        return (source / target).quantize(RATE_PLACES, rounding=ROUND_DOWN)

    def _priced(self, profile: Profile, from_coin: str, to_coin: str, amount: int) -> Quote:
        if from_coin == to_coin:
            raise ValidationFailed("a swap needs two different coins", [_detail("to", "same coin as from")])
        rate = self._rate(from_coin, to_coin)
        fee_floor = int((Decimal(amount) * SWAP_FEE_BPS / 10_000).to_integral_value(rounding=ROUND_CEILING))
        burned = _whole_cents(amount - max(1, fee_floor))
        to_amount = _whole_cents(int((Decimal(burned) * rate).to_integral_value(rounding=ROUND_DOWN)))
        if burned <= 0 or to_amount <= 0:
            raise ValidationFailed("amount too small to swap", [_detail("amount", "too small to swap")])
        now = self._clock.now()
        return Quote(
            new_id("swq"),
            profile.tenant_id,
            profile.user_id,
            from_coin,
            to_coin,
            amount,
            burned,
            amount - burned,
            rate,
            to_amount,
            now,
            now + QUOTE_LIFETIME,
        )

    # -- swapping -------------------------------------------------------------------------------------
    def swap_quoted(self, principal: Principal, quote_id: str, max_slippage_bps: int) -> dict[str, Any]:
        profile = self._consumer.profile(principal)
        quote = self._swaps.quote(profile.tenant_id, profile.user_id, quote_id)
        if quote is None:
            raise NotFound("quote not found")
        existing = self._swaps.swap_of(profile.tenant_id, profile.user_id, swap_id_of(quote.id))
        if existing is not None:
            # The quote's swap ran before: answered as it ended, or finished under the same provider keys.
            if existing.state is SwapState.FAILED:
                raise QuoteExpired("this quote's swap was refused; ask for a new quote")
            if existing.state is SwapState.PROCESSING:
                existing = self._complete(profile, existing)
            return self._answer(existing)
        return self._execute(profile, quote, max_slippage_bps)

    def swap_now(
        self, principal: Principal, from_coin: str, to_coin: str, amount: Decimal, max_slippage_bps: int
    ) -> dict[str, Any]:
        profile = self._consumer.profile(principal)
        quote = self._priced(profile, from_coin, to_coin, token_minor(amount))
        self._swaps.put_quote(quote)
        return self._execute(profile, quote, max_slippage_bps)

    def _execute(self, profile: Profile, quote: Quote, max_slippage_bps: int) -> dict[str, Any]:
        now = self._clock.now()
        if now >= quote.expires_at:
            raise QuoteExpired("the quote expired; ask for a new one")
        current = self._rate(quote.from_coin, quote.to_coin)
        floor = quote.rate * (10_000 - max_slippage_bps) / 10_000
        if current < floor:
            detail = {
                "quoted_rate": f"{quote.rate}",
                "current_rate": f"{current}",
                "max_slippage_bps": max_slippage_bps,
            }
            raise SlippageExceeded("the price moved past max_slippage_bps", [detail])
        to_amount = _whole_cents(
            int((Decimal(quote.burned) * current).to_integral_value(rounding=ROUND_DOWN))
        )
        priced = replace(quote, rate=current, to_amount=to_amount)
        provider = self._router().choose_provider()
        if not {quote.from_coin, quote.to_coin} <= set(SERVES.get(provider.name, ())):
            raise ProviderUnavailable(
                f"no available provider serves {quote.from_coin} and {quote.to_coin} now"
            )
        swap = Swap(
            swap_id_of(quote.id),
            priced,
            profile.wallet_id,
            provider.name,
            SwapState.PROCESSING,
            new_id("txn"),
            now,
        )
        self._hold(swap, now)
        try:
            return self._answer(self._complete(profile, swap))
        except ProviderUnavailable as exc:
            # Held and maybe burned: the same quote_id finishes it (a direct swap's quote is made here).
            detail = {
                "field": "quote_id",
                "message": "retry the swap with this quote_id",
                "quote_id": quote.id,
            }
            message = f"{exc.message}; the swap is held, retry it by quote_id"
            raise ProviderUnavailable(message, [detail]) from exc

    def finish(self, tenant_id: str, user_id: str, swap_id: str) -> str:
        """The sweeper's way in: a swap held and not settled (a crash or an outage after the hold, and the
        quote never sent again) is completed under its own burn and mint keys, or released when the provider
        refuses the burn. A provider still down raises, and the claim stays for the next sweep."""
        profile = self._store.profile(tenant_id, user_id)
        swap = self._swaps.swap_of(tenant_id, user_id, swap_id)
        if profile is None or swap is None or swap.state is not SwapState.PROCESSING:
            return "settled"
        try:
            return self._complete(profile, swap).state.value
        except InvalidState:
            return "released"

    def _complete(self, profile: Profile, swap: Swap) -> Swap:
        """Burn and mint at the swap's provider under the swap's keys, then settle the journal. An outage
        leaves the swap processing (503); the same quote_id finishes it later without moving twice."""
        wallet = self._wallets.get(swap.wallet_id)
        if wallet is None:
            raise NotFound("the consumer's wallet is gone")
        quote, address = swap.quote, wallet.evm_address
        provider = swap.provider
        try:
            self._router().call(
                provider,
                lambda p: p.burn(Asset(quote.from_coin), quote.burned, address, f"swap-{swap.id}-burn"),
            )
        except ProviderRejected as refused:
            self._release(swap)
            raise InvalidState(f"the provider refused the swap: {refused.message}") from refused
        self._router().call(
            provider, lambda p: p.mint(Asset(quote.to_coin), quote.to_amount, address, f"swap-{swap.id}-mint")
        )
        return self._settle(profile, swap)

    def _hold(self, swap: Swap, now: datetime) -> None:
        quote = swap.quote
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, swap.id, "hold"),
            JournalKind.TRANSFER,
            (
                credit(Account.wallet(swap.wallet_id, quote.from_coin), quote.amount),
                debit(Account.wallet(swap.id, quote.from_coin), quote.amount),
            ),
            now,
            {"swap_id": swap.id, "tenant_id": quote.tenant_id},
        )
        try:
            self._ledger.post(journal, self._swaps.start(swap, now))
        except ConcurrentUpdate as exc:
            raise QuoteExpired("the quote was used already or expired; ask for a new one") from exc
        except InsufficientBalance:
            raise InsufficientBalance(
                f"not enough {quote.from_coin} for this swap",
                [
                    {
                        "field": "amount",
                        "message": "more than the wallet holds",
                        "type": "insufficient_balance",
                    }
                ],
            ) from None

    def _release(self, swap: Swap) -> None:
        quote = swap.quote
        journal = Journal(
            journal_id_for(JournalKind.TRANSFER, swap.id, "release"),
            JournalKind.TRANSFER,
            (
                credit(Account.wallet(swap.id, quote.from_coin), quote.amount),
                debit(Account.wallet(swap.wallet_id, quote.from_coin), quote.amount),
            ),
            self._clock.now(),
            {"swap_id": swap.id, "tenant_id": quote.tenant_id},
        )
        self._ledger.post(journal, [self._swaps.finish(replace(swap, state=SwapState.FAILED))])

    def _settle(self, profile: Profile, swap: Swap) -> Swap:
        quote, now = swap.quote, self._clock.now()
        source, target = STABLECOINS[quote.from_coin], STABLECOINS[quote.to_coin]
        burned_fiat = token_to_fiat(quote.burned, quote.from_coin, source)
        minted_fiat = token_to_fiat(quote.to_amount, quote.to_coin, target)
        assert fiat_to_token(burned_fiat, source, quote.from_coin) == quote.burned
        moves: dict[Account, int] = defaultdict(int)
        moves[Account.wallet(swap.id, quote.from_coin)] -= quote.amount
        moves[Account.supply(quote.from_coin)] += quote.burned
        moves[Account.fees(quote.tenant_id, quote.from_coin)] += quote.fee
        moves[Account.reserve(source)] -= burned_fiat
        moves[Account.external("fx", source)] += burned_fiat
        moves[Account.reserve(target)] += minted_fiat
        moves[Account.external("fx", target)] -= minted_fiat
        moves[Account.supply(quote.to_coin)] -= quote.to_amount
        moves[Account.wallet(swap.wallet_id, quote.to_coin)] += quote.to_amount
        journal = Journal(
            journal_id_for(JournalKind.SWAP, swap.id),
            JournalKind.SWAP,
            _netted(moves),
            now,
            {"swap_id": swap.id, "tenant_id": quote.tenant_id, "provider": swap.provider},
        )
        done = replace(swap, state=SwapState.COMPLETED, settled_at=now)
        line = self._line(done)
        data = {
            "tenant_id": quote.tenant_id,
            "transaction_id": swap.transaction_id,
            "from": quote.from_coin,
            "to": quote.to_coin,
            "from_amount": format_token(quote.amount),
            "to_amount": format_token(quote.to_amount),
            "rate": f"{quote.rate}",
        }
        channel = [consumer_channel(profile.user_id)]
        person = Resource("consumer", profile.user_id)
        balance = {"tenant_id": quote.tenant_id, "wallet_id": swap.wallet_id}
        events: list[Record] = [
            domain_event("swap:complete", channel, data, now, resource=person),
            domain_event("balance:updated", channel, balance, now, resource=person),
        ]
        operations = self._store.movement_operations(
            quote.tenant_id, profile.user_id, [], [(profile.user_id, line)], events
        )
        self._ledger.post(journal, [self._swaps.finish(done), *operations])
        return done

    @staticmethod
    def _line(swap: Swap) -> ConsumerTransaction:
        quote = swap.quote
        return ConsumerTransaction(
            swap.transaction_id,
            TransactionType.SWAP,
            quote.amount,
            quote.from_coin,
            TransactionStatus.COMPLETED
            if swap.state is SwapState.COMPLETED
            else TransactionStatus.PROCESSING,
            f"{quote.to_coin}:{format_token(quote.to_amount)}",
            swap.provider,
            swap.created_at,
            swap.settled_at,
        )

    def _answer(self, swap: Swap) -> dict[str, Any]:
        quote = swap.quote
        return {
            "transaction": self._line(swap).to_api(),
            "rate": f"{quote.rate}",
            "from_amount": format_token(quote.amount),
            "to_amount": format_token(quote.to_amount),
            "fee": format_token(quote.fee),
            "provider": swap.provider,
        }


def swap_id_of(quote_id: str) -> str:
    """A quote is swapped at most once: its swap's id follows from it."""
    return "swp_" + journal_id_for(JournalKind.SWAP, "quote", quote_id).removeprefix("jrn_")


def _detail(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message, "type": "value_error"}
