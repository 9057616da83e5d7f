"""Consumer deposits: a Stripe PaymentIntent, then the same value minted into the person's persistent wallet
at the provider the routing table chose, and the funding journal posted with the operation's completion.

Order and keys (shared/consumer/money.py has the record):
- the limit and the provider are decided before anything is charged (400 `limit_exceeded`, 503
  `provider_unavailable`: nothing moves); the record, written with the limit charge, names the provider, so
  every later step mints at that one;
- the PaymentIntent carries `dep-pi-{op}` and the mint `dep-mint-{op}`: a retry after a crash (after the
  charge, after the mint) meets the same PaymentIntent and the same mint at the provider;
- the journal id comes from the operation, and it commits with the record's `completed` state, the history
  line and the events: the request, its retries and the webhook post it once;
- a card completes at once (200); a bank debit answers 202 `processing` and completes on Stripe's signed
  `payment_intent.succeeded` (shared/stripe_events/service.py), or fails on `payment_intent.payment_failed`,
  which gives the limit headroom back.

Whose wallet is funded is a `DepositHolders`: the consumer capability (a person's wallet, their KYC limits,
their `consumer:<id>` events), or a tenant's treasury (shared/treasury/service.py: no personal limits, its
events on `admin`). The engine is the same for both; each kind of holder has its own PaymentIntent `kind`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from shared.auth import Principal
from shared.cards.ports import PaymentDeclined, PaymentProcessor, PaymentResult
from shared.clock import Clock
from shared.consumer.money import OPEN, MoneyOp, MoneyOpStore, OpKind, OpState, money_event, operation_id
from shared.consumer.ports import CounterCharge
from shared.consumer.records import Preferences, TransactionStatus, windows_at
from shared.consumer.routing import ProviderChooser, deposit_route
from shared.consumer.service import consumer_channel
from shared.errors import ConcurrentUpdate, InvalidState, NotFound, PaymentFailed, ProviderUnavailable
from shared.funding.ports import ProviderGateway
from shared.ledger import movements
from shared.ledger.assets import STABLECOINS, fiat_to_token
from shared.ledger.ports import LedgerStore
from shared.models.wallet import Wallet
from shared.money import minor_units
from shared.outbox.records import DomainEvent
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset

DEPOSIT_KIND = "consumer_deposit"
_ATTEMPTS = 8
# PaymentIntent states that may still succeed (a bank debit settling).
_STILL_PROCESSING = frozenset({"processing", "requires_action", "requires_confirmation"})


def charge_key(op_id: str) -> str:
    return f"dep-pi-{op_id}"


def mint_key(op_id: str) -> str:
    return f"dep-mint-{op_id}"


def refund_key(op_id: str) -> str:
    return f"dep-refund-{op_id}"


class MintRefused(InvalidState):
    """The provider refused the mint for good; the payment was refunded and the deposit failed."""


class WalletLookup(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


class DepositHolder(Protocol):
    """Who a deposit funds: the keys of its operation records and the wallet the mint goes to."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def wallet_id(self) -> str: ...

    @property
    def preferences(self) -> Preferences: ...


class DepositHolders(Protocol):
    """The holders one DepositService funds (ConsumerService is one: people, within their KYC limits)."""

    def profile(self, principal: Principal) -> DepositHolder: ...

    def usd_value(self, coin: str, token_amount: int) -> int: ...

    def limit_charges(self, profile: Any, usd: int, now: datetime) -> list[CounterCharge]: ...


def consumer_deposit_events(op: MoneyOp, wallet_id: str, now: datetime) -> list[DomainEvent]:
    """A person's completed deposit, on their own channel."""
    channel = consumer_channel(op.user_id)
    return [
        money_event("deposit:complete", channel, op, now, status="completed"),
        money_event("balance:updated", channel, op, now, wallet_id=wallet_id),
    ]


def release_charges(op: MoneyOp) -> list[CounterCharge]:
    """What gives back a failed operation's limit charge: the windows it was charged in."""
    return [CounterCharge(window, 0, op.usd) for window in windows_at(op.created_at)]


class DepositService:
    def __init__(
        self,
        holders: DepositHolders,
        store: MoneyOpStore,
        wallets: WalletLookup,
        payments: PaymentProcessor,
        chooser: ProviderChooser,
        router: ProviderGateway,
        ledger: LedgerStore,
        clock: Clock,
        *,
        kind: str = DEPOSIT_KIND,
        announce: Callable[[MoneyOp, str, datetime], list[DomainEvent]] = consumer_deposit_events,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._holders = holders
        self.kind = kind
        self._announce = announce
        self._store = store
        self._wallets = wallets
        self._payments = payments
        self._chooser = chooser
        self._router = router
        self._ledger = ledger
        self._clock = clock
        self._timer = timer

    def deposit(
        self,
        principal: Principal,
        amount: Decimal,
        currency: str | None,
        payment_method: str,
        urgency: str,
        request_key: str | None,
    ) -> tuple[int, dict[str, Any]]:
        """(status, answer): 200 with the completed transaction, or 202 while a bank debit settles."""
        started = self._timer()
        profile = self._holders.profile(principal)
        coin = currency or profile.preferences.preferred_currency
        fiat = STABLECOINS[coin]
        fiat_amount = int(amount.scaleb(minor_units(fiat)))
        op_id = operation_id(OpKind.DEPOSIT, principal, request_key)
        op = self._store.op(profile.tenant_id, profile.user_id, op_id)
        if op is None:
            op = self._begin(principal, op_id, coin, fiat_amount, urgency, payment_method)
        if op.state is OpState.COMPLETED:
            return 200, _answer(op)
        if op.state is OpState.FAILED:
            raise PaymentFailed("this deposit failed; nothing was credited", [{"transaction_id": op.op_id}])
        if op.state is OpState.PROCESSING:
            return 202, _answer(op)
        try:
            result = self._charge(op)
        except PaymentDeclined:
            self._fail(op, ())
            raise
        if result.status in _STILL_PROCESSING:
            waiting = op.with_(OpState.PROCESSING, self._clock.now(), payment_intent_id=result.intent_id)
            self._advance(op, waiting, waiting.line(TransactionStatus.PROCESSING))
            return 202, _answer(waiting)
        if result.status != "succeeded":
            self._fail(op, ())
            raise PaymentFailed(
                result.failure_message or f"the payment is {result.status}",
                [{"decline_code": result.decline_code, "payment_intent_id": result.intent_id}],
            )
        done = self._settle(op, result, (), lambda: int((self._timer() - started) * 1000))
        return 200, _answer(done)

    # -- Stripe's events --------------------------------------------------------------------------------
    def handles(self, payment: PaymentResult) -> bool:
        return payment.metadata.get("kind") == self.kind

    def payment_succeeded(self, payment: PaymentResult, records: Sequence[dict[str, Any]]) -> str:
        op = self._op_of(payment)
        if op is None:
            return "ignored"
        if op.state is OpState.COMPLETED:
            return "already_deposited"
        if op.state not in OPEN:
            return "ignored"
        try:
            self._settle(op, payment, records, lambda: _elapsed_ms(op.created_at, self._clock.now()))
        except MintRefused:
            return "refunded"
        return "deposited"

    def payment_failed(self, payment: PaymentResult, records: Sequence[dict[str, Any]]) -> str:
        op = self._op_of(payment)
        if (
            op is None
            or op.state not in OPEN
            or payment.status not in ("requires_payment_method", "canceled")
        ):
            return "ignored"
        self._fail(op, records)
        return "deposit_failed"

    def finish(self, op: MoneyOp) -> str:
        """Complete a deposit a crash or a mint outage left open (the sweeper): its PaymentIntent as named,
        or, when the crash came before it was named, as the same create request (its key and parameters)
        gets it from Stripe: the one the request made, or, if the request died before Stripe had it, the
        charge the person asked for."""
        if op.state not in OPEN:
            return "settled"
        if "payment_intent_id" in op.facts:
            payment = self._payments.retrieve(op.facts["payment_intent_id"])
        else:
            try:
                payment = self._charge(op)
            except PaymentDeclined:
                self._fail(op, ())
                return "deposit_failed"
        if payment.status == "succeeded":
            return self.payment_succeeded(payment, ())
        if payment.status in _STILL_PROCESSING:
            if op.state is OpState.STARTED:
                waiting = op.with_(OpState.PROCESSING, self._clock.now(), payment_intent_id=payment.intent_id)
                self._advance(op, waiting, waiting.line(TransactionStatus.PROCESSING))
            return "processing"
        self._fail(op, ())
        return "deposit_failed"

    def _charge(self, op: MoneyOp) -> PaymentResult:
        metadata = {
            "kind": self.kind,
            "tenant_id": op.tenant_id,
            "user_id": op.user_id,
            "operation_id": op.op_id,
        }
        return self._payments.charge(
            op.fiat_amount, STABLECOINS[op.coin], op.facts["payment_method"], charge_key(op.op_id), metadata
        )

    # -- steps ------------------------------------------------------------------------------------------
    def _begin(
        self, principal: Principal, op_id: str, coin: str, fiat_amount: int, urgency: str, payment_method: str
    ) -> MoneyOp:
        fiat = STABLECOINS[coin]
        token_amount = fiat_to_token(fiat_amount, fiat, coin)
        usd = self._holders.usd_value(coin, token_amount)
        provider = self._chooser.choose(coin, deposit_route(urgency, usd).order)
        for _ in range(_ATTEMPTS):
            profile = self._holders.profile(principal)
            now = self._clock.now()
            charges = self._holders.limit_charges(profile, usd, now)
            op = MoneyOp(
                op_id,
                profile.tenant_id,
                profile.user_id,
                OpKind.DEPOSIT,
                OpState.STARTED,
                coin,
                token_amount,
                fiat_amount,
                usd,
                provider,
                now,
                now,
                facts={"urgency": urgency, "wallet_id": profile.wallet_id, "payment_method": payment_method},
            )
            try:
                self._store.write(self._store.begin(op, charges, op.line(TransactionStatus.PENDING)))
                return op
            except ConcurrentUpdate:
                # The same request concurrently (its record exists now), or a counter moved: read again.
                again = self._store.op(profile.tenant_id, profile.user_id, op_id)
                if again is not None:
                    return again
        raise ConcurrentUpdate("too many concurrent movements of this consumer; retry")

    def _settle(
        self,
        op: MoneyOp,
        payment: PaymentResult,
        records: Sequence[dict[str, Any]],
        elapsed_ms: Callable[[], int],
    ) -> MoneyOp:
        fiat = STABLECOINS[op.coin]
        if payment.amount_received_minor != op.fiat_amount or payment.currency.upper() != fiat:
            raise InvalidState("the payment does not match the deposit")
        wallet = self._wallets.get(op.facts["wallet_id"])
        if wallet is None:
            raise NotFound("the consumer's wallet is gone")
        if op.facts.get("payment_intent_id") != payment.intent_id:
            # Named before the mint: whoever finishes an interrupted deposit knows its PaymentIntent.
            named = op.with_(None, self._clock.now(), payment_intent_id=payment.intent_id)
            try:
                self._advance(op, named)
                op = named
            except ConcurrentUpdate:
                # The webhook (or the request) got there first: it completed the deposit, or is on it.
                stored = self._store.op(op.tenant_id, op.user_id, op.op_id)
                if stored is None or stored.state not in (*OPEN, OpState.COMPLETED):
                    raise
                if stored.state is OpState.COMPLETED:
                    return stored
                op = stored
        try:
            tx = self._router.call(
                op.provider,
                lambda p: p.mint(Asset(op.coin), op.token_amount, wallet.evm_address, mint_key(op.op_id)),
            )
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(
                "the deposit is paid but its mint did not go through yet; a retry with the same "
                "Idempotency-Key (or Stripe's redelivery) completes it"
            ) from exc
        except ProviderRejected as refused:
            # Refused for good: the key's mint never landed (a provider answers a landed one's replay), so
            # the payment goes back and the deposit fails, its limit headroom given back.
            self._payments.refund(
                payment.intent_id, op.fiat_amount, refund_key(op.op_id), "requested_by_customer"
            )
            self._fail(op.with_(None, None, refund="yes"), records)
            raise MintRefused(
                f"the provider refused the mint ({refused}); the payment was refunded"
            ) from None
        now = self._clock.now()
        journal = movements.funding(
            operation_id=f"consumer-deposit-{op.op_id}",
            wallet_id=wallet.wallet_id,
            tenant_id=op.tenant_id,
            currency=fiat,
            token=op.coin,
            fiat_amount=op.fiat_amount,
            created_at=now,
            payment_intent_id=payment.intent_id,
            provider=op.provider,
        )
        done = op.with_(
            OpState.COMPLETED,
            now,
            journal_id=journal.id,
            transaction_hash=tx.tx_hash or tx.tx_id,
            settlement_time_ms=str(elapsed_ms()),
        )
        events = self._announce(done, wallet.wallet_id, now)
        operations = [
            *self._store.advance(done, OPEN, done.line(TransactionStatus.COMPLETED)),
            *self._store.records([*events, *records]),
        ]
        try:
            self._ledger.post(journal, operations)
        except ConcurrentUpdate:
            stored = self._store.op(op.tenant_id, op.user_id, op.op_id)
            if stored is not None and stored.state is OpState.COMPLETED:
                return stored
            raise
        return done

    def _fail(self, op: MoneyOp, records: Sequence[dict[str, Any]]) -> None:
        failed = op.with_(OpState.FAILED, self._clock.now())
        operations = [
            *self._store.advance(failed, OPEN, failed.line(TransactionStatus.FAILED), release_charges(op)),
            *self._store.records(records),
        ]
        try:
            self._store.write(operations)
        except ConcurrentUpdate:
            stored = self._store.op(op.tenant_id, op.user_id, op.op_id)
            if stored is None or stored.state in OPEN:
                raise

    def _advance(self, op: MoneyOp, after: MoneyOp, line: Any = None) -> None:
        self._store.write(self._store.advance(after, (op.state,), line))

    def _op_of(self, payment: PaymentResult) -> MoneyOp | None:
        md = payment.metadata
        if not self.handles(payment) or not all(md.get(k) for k in ("tenant_id", "user_id", "operation_id")):
            return None
        op = self._store.op(md["tenant_id"], md["user_id"], md["operation_id"])
        if op is None or op.kind is not OpKind.DEPOSIT:
            return None
        return op


def _elapsed_ms(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000))


def _answer(op: MoneyOp) -> dict[str, Any]:
    status = {
        OpState.COMPLETED: TransactionStatus.COMPLETED,
        OpState.PROCESSING: TransactionStatus.PROCESSING,
        OpState.STARTED: TransactionStatus.PENDING,
    }.get(op.state, TransactionStatus.FAILED)
    ms = op.facts.get("settlement_time_ms")
    return {
        "transaction": op.line(status).to_api(),
        "provider": op.provider,
        "settlement_time_ms": int(ms) if ms else None,
        "payment_intent_id": op.facts.get("payment_intent_id"),
    }
