"""Consumer money out: withdrawals to a bank (burn, then Stripe Connect: a transfer to the person's connected
account and a payout on it) or to an outside address, and transfers to an outside address (a provider
transfer with its fee).

Order and keys (shared/consumer/money.py has the record):
- the journal is posted first, with the record, the history line and the limit charge, in one transaction:
  the wallet's guarded balance refuses what it does not hold (400 `insufficient_balance`), the counters
  what the level does not allow (400 `limit_exceeded`), and nothing outside has happened yet;
- then each outside step with a key fixed by the operation: `wd-burn-{op}`, `wd-acct-{person,bank}`,
  `wd-tr-{op}`, `wd-po-{op}` (bank) or `wd-out-{op}` (address); a retry after a crash repeats them as the
  same steps. A provider outage answers 503 and leaves the operation open for the retry to finish;
- a step refused for good (the provider rejects the transfer, Stripe rejects the payout) reverses: what was
  burned is minted back (`wd-remint-{op}`), the reversal journal posts with the record `failed` and the limit
  headroom given back;
- a payout that fails later (Stripe's signed `payout.failed`) reverses the same way, after taking the
  transfer back from the connected account (`wd-trrev-{op}`), and the record becomes `reversed`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from shared.auth import Principal
from shared.clock import Clock
from shared.consumer.commands import Destination
from shared.consumer.deposits import WalletLookup, release_charges
from shared.consumer.money import OPEN, MoneyOp, MoneyOpStore, OpKind, OpState, money_event, operation_id
from shared.consumer.records import TransactionStatus, format_token
from shared.consumer.routing import TRANSFER_OUT_FEES, ProviderChooser
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import (
    ConcurrentUpdate,
    DependencyUnavailable,
    IdempotencyInProgress,
    InsufficientBalance,
    InvalidState,
    NotFound,
    ProviderUnavailable,
    ValidationFailed,
    WalletsError,
)
from shared.funding.ports import ProviderGateway
from shared.ledger import movements
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS, token_to_fiat
from shared.ledger.journal import Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.ports import LedgerStore
from shared.models.wallet import Wallet
from shared.outbox.records import iso
from shared.providers.errors import ProviderRejected
from shared.providers.models import Asset
from shared.providers.port import StablecoinProvider

WITHDRAWAL_KIND = "consumer_withdrawal"
_ATTEMPTS = 8


@dataclass(frozen=True)
class Payout:
    """A Stripe Connect payout to the person's bank, with the transfer that funded it."""

    account_id: str
    payout_id: str
    status: str
    arrival_date: datetime


class BankPayouts(Protocol):
    """Stripe Connect, as withdrawals use it. Every write carries the caller's idempotency key."""

    def connected_account(self, bank_account: str, metadata: dict[str, str], idempotency_key: str) -> str:
        """The connected account whose external account is `bank_account` (a bank token or id)."""
        ...

    def transfer(
        self,
        account_id: str,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        """Move `amount_minor` from the platform to `account_id`; the transfer's id."""
        ...

    def pay_out(
        self,
        account_id: str,
        amount_minor: int,
        currency: str,
        speed: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Payout:
        """Pay `amount_minor` out of `account_id`'s balance to its bank, `instant` or `standard`."""
        ...

    def reverse_transfer(self, transfer_id: str, amount_minor: int, idempotency_key: str) -> str: ...


class WithdrawalService:
    def __init__(
        self,
        consumer: ConsumerService,
        store: MoneyOpStore,
        wallets: WalletLookup,
        payouts: Callable[[], BankPayouts],
        chooser: ProviderChooser,
        router: ProviderGateway,
        ledger: LedgerStore,
        clock: Clock,
    ) -> None:
        self._consumer = consumer
        self._store = store
        self._wallets = wallets
        self._payouts = payouts
        self._chooser = chooser
        self._router = router
        self._ledger = ledger
        self._clock = clock

    # -- requests ---------------------------------------------------------------------------------------
    def withdraw(
        self,
        principal: Principal,
        amount: Decimal,
        currency: str | None,
        destination: Destination,
        request_key: str | None,
    ) -> dict[str, Any]:
        profile = self._consumer.profile(principal)
        coin = currency or profile.preferences.preferred_currency
        token_amount = _minor(amount)
        kind = OpKind.WITHDRAWAL
        if destination.type == "bank":
            try:
                fiat_amount = token_to_fiat(token_amount, coin, STABLECOINS[coin])
            except ValueError:
                detail = {"field": "amount", "message": "a bank payout is whole cents", "type": "value_error"}
                raise ValidationFailed("a withdrawal to a bank is at most 2 decimals", [detail]) from None
            facts = {
                "destination": "bank",
                "bank_account": destination.bank_account or "",
                "speed": destination.speed,
            }
        else:
            fiat_amount = 0
            facts = {
                "destination": "address",
                "address": destination.address or "",
                "chain": destination.chain or "",
            }
        op = self._open(principal, kind, request_key, coin, token_amount, fiat_amount, facts)
        done = self._finish(op)
        return _answer(done)

    def transfer_out(
        self,
        principal: Principal,
        to: str,
        amount: Decimal,
        currency: str,
        chain: str | None,
        memo: str | None,
        request_key: str | None,
    ) -> dict[str, Any]:
        facts = {"destination": "address", "address": to, "chain": chain or ""}
        if memo:
            facts["memo"] = memo
        op = self._open(principal, OpKind.TRANSFER_OUT, request_key, currency, _minor(amount), 0, facts)
        done = self._finish(op)
        answer = _answer(done)
        return {"transaction": answer["transaction"], "fee": answer["fee"], "provider": done.provider}

    def payout_failed(self, payout: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
        """Stripe's `payout.failed`: the amount comes back to the wallet and the journal is reversed."""
        md = payout.get("metadata") if isinstance(payout.get("metadata"), dict) else {}
        assert isinstance(md, dict)
        if not all(md.get(k) for k in ("tenant_id", "user_id", "operation_id")):
            return "ignored"
        op = self._store.op(str(md["tenant_id"]), str(md["user_id"]), str(md["operation_id"]))
        if op is None or op.kind is not OpKind.WITHDRAWAL or op.facts.get("payout_id") != payout.get("id"):
            return "ignored"
        if op.state is OpState.REVERSED:
            return "already_reversed"
        if op.state is not OpState.COMPLETED:
            return "ignored"
        transfer_id = op.facts.get("transfer_id")
        if transfer_id:
            self._payouts().reverse_transfer(transfer_id, op.fiat_amount, f"wd-trrev-{op.op_id}")
        failure = str(payout.get("failure_code") or "payout_failed")
        self._reverse(op, OpState.REVERSED, (OpState.COMPLETED,), records, failure_code=failure)
        return "reversed"

    def finish(self, op: MoneyOp) -> str:
        """Finish a withdrawal or transfer out a crash or an outage left open (the sweeper), with its keys."""
        try:
            done = self._finish(op)
        except InvalidState:
            return "reversed"
        return done.state.value

    # -- steps ------------------------------------------------------------------------------------------
    def _open(
        self,
        principal: Principal,
        kind: OpKind,
        request_key: str | None,
        coin: str,
        token_amount: int,
        fiat_amount: int,
        facts: dict[str, str],
    ) -> MoneyOp:
        """The operation's record, made now (the journal, the limit charge and the line in one transaction)
        or as a retry finds it."""
        op_id = operation_id(kind, principal, request_key)
        profile = self._consumer.profile(principal)
        found = self._store.op(profile.tenant_id, profile.user_id, op_id)
        if found is not None:
            return found
        wallet = self._wallet(profile.wallet_id)
        held = self._ledger.balance(Account.wallet(wallet.wallet_id, coin))
        if held < token_amount:
            raise _short(coin, token_amount)
        provider = self._holder(coin, token_amount, wallet)
        fee = TRANSFER_OUT_FEES[provider] if facts.get("destination") == "address" else 0
        usd = self._consumer.usd_value(coin, token_amount)
        for _ in range(_ATTEMPTS):
            profile = self._consumer.profile(principal)
            now = self._clock.now()
            charges = self._consumer.limit_charges(profile, usd, now)
            op = MoneyOp(
                op_id,
                profile.tenant_id,
                profile.user_id,
                kind,
                OpState.STARTED,
                coin,
                token_amount,
                fiat_amount,
                usd,
                provider,
                now,
                now,
                fee=fee,
                facts={**facts, "wallet_id": wallet.wallet_id},
            )
            journal = self._journal(op, now, reverse=False)
            op = op.with_(journal_id=journal.id)
            operations = self._store.begin(op, charges, op.line(TransactionStatus.PENDING, _counterparty(op)))
            try:
                self._ledger.post(journal, operations)
                return op
            except InsufficientBalance:
                raise _short(coin, token_amount + fee) from None
            except ConcurrentUpdate:
                again = self._store.op(profile.tenant_id, profile.user_id, op_id)
                if again is not None:
                    return again
        raise ConcurrentUpdate("too many concurrent movements of this consumer; retry")

    def _finish(self, op: MoneyOp) -> MoneyOp:
        if op.state not in OPEN:
            if op.state is OpState.FAILED:
                raise InvalidState("this withdrawal failed and was reversed", [{"transaction_id": op.op_id}])
            return op
        wallet = self._wallet(op.facts["wallet_id"])
        asset = Asset(op.coin)
        if op.facts.get("destination") == "bank":
            self._call(
                op, lambda p: p.burn(asset, op.token_amount, wallet.evm_address, f"wd-burn-{op.op_id}")
            )
            op = self._after_burn(op)
            return self._pay_out(op)
        tx = self._call(
            op,
            lambda p: p.transfer(
                asset, op.token_amount, wallet.evm_address, op.facts["address"], f"wd-out-{op.op_id}"
            ),
        )
        return self._complete(op, tx_hash=str(tx.tx_hash or tx.tx_id))

    def _call(self, op: MoneyOp, step: Callable[[StablecoinProvider], Any]) -> Any:
        try:
            return self._router.call(op.provider, step)
        except ProviderRejected as refused:
            self._reverse(op, OpState.FAILED, OPEN, (), reminted=False, failure_code="provider_rejected")
            raise InvalidState(
                f"the provider refused the movement ({refused}); nothing left the wallet"
            ) from None
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(
                "the provider did not answer; the amount is held and a retry with the same Idempotency-Key "
                "finishes the withdrawal"
            ) from exc

    def _after_burn(self, op: MoneyOp) -> MoneyOp:
        if op.facts.get("burned") == "yes":
            return op
        return self._record(op, burned="yes")

    def _record(self, op: MoneyOp, **facts: str) -> MoneyOp:
        """Keep what an outside step did on the open record (what a later finisher or reversal needs)."""
        after = op.with_(None, self._clock.now(), **facts)
        try:
            self._store.write(self._store.advance(after, (op.state,)))
        except ConcurrentUpdate:
            # Another finisher (the retry, the sweeper) recorded it, or finished the withdrawal meanwhile.
            stored = self._store.op(op.tenant_id, op.user_id, op.op_id)
            if stored is None or stored.state not in OPEN:
                raise
            return stored
        return after

    def _pay_out(self, op: MoneyOp) -> MoneyOp:
        payouts = self._payouts()
        metadata = {
            "kind": WITHDRAWAL_KIND,
            "tenant_id": op.tenant_id,
            "user_id": op.user_id,
            "operation_id": op.op_id,
        }
        bank = op.facts["bank_account"]
        person = hashlib.sha256(f"{op.tenant_id}\x1f{op.user_id}\x1f{bank}".encode()).hexdigest()[:40]
        try:
            # Kept once made: a bank token is single-use at Stripe and its idempotency key lasts 24 hours.
            account = self._store.connected_account(op.tenant_id, op.user_id, person)
            if account is None:
                made = payouts.connected_account(bank, metadata, f"wd-acct-{person}")
                account = self._store.remember_account(op.tenant_id, op.user_id, person, made)
            currency = STABLECOINS[op.coin]
            if "transfer_id" not in op.facts:
                moved = payouts.transfer(account, op.fiat_amount, currency, metadata, f"wd-tr-{op.op_id}")
                op = self._record(op, account_id=account, transfer_id=moved)
            payout = payouts.pay_out(
                account,
                op.fiat_amount,
                currency,
                op.facts.get("speed", "standard"),
                metadata,
                f"wd-po-{op.op_id}",
            )
        except (DependencyUnavailable, IdempotencyInProgress):
            raise  # Stripe unreachable or still on it: the retry (or the sweeper) sends the same keys
        except WalletsError as refused:
            # Refused for good (a bank token Stripe will not take, a rule of Connect): the money comes back,
            # the transfer from the connected account first.
            if op.facts.get("transfer_id"):
                payouts.reverse_transfer(op.facts["transfer_id"], op.fiat_amount, f"wd-trrev-{op.op_id}")
            self._reverse(op, OpState.FAILED, OPEN, (), failure_code="payout_refused")
            raise InvalidState(
                f"the payout was refused ({refused}); the amount is back in the wallet"
            ) from None
        return self._complete(op, payout_id=payout.payout_id, arrival_date=iso(payout.arrival_date))

    def _complete(self, op: MoneyOp, **facts: str) -> MoneyOp:
        now = self._clock.now()
        done = op.with_(OpState.COMPLETED, now, **facts)
        channel = consumer_channel(op.user_id)
        name = "withdrawal:complete" if op.kind is OpKind.WITHDRAWAL else "transfer:sent"
        extra = {"to": op.facts.get("address")} if op.facts.get("destination") == "address" else {}
        events = [
            money_event(name, channel, done, now, status="completed", fee=format_token(op.fee), **extra),
            money_event("balance:updated", channel, done, now, wallet_id=op.facts["wallet_id"]),
        ]
        line = done.line(TransactionStatus.COMPLETED, _counterparty(done))
        try:
            self._store.write([*self._store.advance(done, OPEN, line), *self._store.records(events)])
        except ConcurrentUpdate:
            stored = self._store.op(op.tenant_id, op.user_id, op.op_id)
            if stored is not None and stored.state is OpState.COMPLETED:
                return stored
            raise
        return done

    def _reverse(
        self,
        op: MoneyOp,
        state: OpState,
        expected: Sequence[OpState],
        records: Sequence[dict[str, Any]],
        *,
        reminted: bool = True,
        failure_code: str,
    ) -> MoneyOp:
        """Give the amount back: mint back what was burned, post the reversal journal with the record, the
        line's new status, the limit headroom and the events."""
        if reminted and op.facts.get("destination") == "bank" and op.facts.get("burned") == "yes":
            wallet = self._wallet(op.facts["wallet_id"])
            self._router.call(
                op.provider,
                lambda p: p.mint(
                    Asset(op.coin), op.token_amount, wallet.evm_address, f"wd-remint-{op.op_id}"
                ),
            )
        now = self._clock.now()
        journal = self._journal(op, now, reverse=True)
        after = op.with_(state, now, failure_code=failure_code, reversal_journal_id=journal.id)
        status = TransactionStatus.REVERSED if state is OpState.REVERSED else TransactionStatus.FAILED
        channel = consumer_channel(op.user_id)
        events = [
            money_event(
                "balance:updated", channel, after, now, wallet_id=op.facts["wallet_id"], status=status.value
            )
        ]
        operations = [
            *self._store.advance(after, expected, after.line(status, _counterparty(op)), release_charges(op)),
            *self._store.records([*events, *records]),
        ]
        self._ledger.post(journal, operations)
        return after

    def _journal(self, op: MoneyOp, now: datetime, *, reverse: bool) -> Journal:
        refs = {"tenant_id": op.tenant_id, "operation_id": op.op_id, "provider": op.provider}
        if op.facts.get("destination") == "bank":
            fiat = STABLECOINS[op.coin]
            if reverse:
                return movements.funding(
                    operation_id=f"consumer-withdrawal-reversal-{op.op_id}",
                    wallet_id=op.facts["wallet_id"],
                    tenant_id=op.tenant_id,
                    currency=fiat,
                    token=op.coin,
                    fiat_amount=op.fiat_amount,
                    channel="stripe",
                    created_at=now,
                    provider=op.provider,
                )
            return movements.withdrawal(
                operation_id=f"consumer-withdrawal-{op.op_id}",
                wallet_id=op.facts["wallet_id"],
                token=op.coin,
                currency=fiat,
                token_amount=op.token_amount,
                channel="stripe",
                created_at=now,
                tenant_id=op.tenant_id,
                provider=op.provider,
            )
        wallet = Account.wallet(op.facts["wallet_id"], op.coin)
        outside = Account.external("chain", op.coin)
        fees = Account.fees(op.tenant_id, op.coin)
        if reverse:
            entries = [debit(wallet, op.token_amount + op.fee), credit(outside, op.token_amount)]
            entries += [credit(fees, op.fee)] if op.fee else []
        else:
            entries = [credit(wallet, op.token_amount + op.fee), debit(outside, op.token_amount)]
            entries += [debit(fees, op.fee)] if op.fee else []
        name = "consumer-out-reversal" if reverse else "consumer-out"
        return Journal(
            journal_id_for(JournalKind.TRANSFER, name, op.op_id),
            JournalKind.TRANSFER,
            tuple(entries),
            now,
            {**refs, "wallet_id": op.facts["wallet_id"]},
        )

    def _holder(self, coin: str, token_amount: int, wallet: Wallet) -> str:
        """The usable provider serving `coin` where the wallet's address holds the amount (Tempo first)."""
        asset = Asset(coin)
        names = self._chooser.candidates(coin)
        if not names:
            raise ProviderUnavailable(f"no usable provider serves {coin} now; nothing was moved")
        for name in names:
            try:
                held = self._router.call(name, lambda p: p.balance(asset, wallet.evm_address))
            except ProviderUnavailable:
                continue
            if held >= token_amount:
                return name
        raise ProviderUnavailable(
            f"no usable provider holds {format_token(token_amount)} {coin} of this wallet now"
        )

    def _wallet(self, wallet_id: str) -> Wallet:
        wallet = self._wallets.get(wallet_id)
        if wallet is None:
            raise NotFound("the consumer's wallet is gone")
        return wallet


def _short(coin: str, needed: int) -> InsufficientBalance:
    detail = {"field": "amount", "message": "more than the wallet holds", "type": "insufficient_balance"}
    return InsufficientBalance(
        f"the wallet holds less than {format_token(needed)} {coin} (fee included)", [detail]
    )


def _minor(amount: Decimal) -> int:
    return int(amount.scaleb(6))


def _counterparty(op: MoneyOp) -> str | None:
    if op.facts.get("destination") == "bank":
        return "bank"
    return op.facts.get("address")


def _answer(op: MoneyOp) -> dict[str, Any]:
    status = {
        OpState.COMPLETED: TransactionStatus.COMPLETED,
        OpState.REVERSED: TransactionStatus.REVERSED,
    }.get(op.state, TransactionStatus.PROCESSING)
    return {
        "transaction": op.line(status, _counterparty(op)).to_api(),
        "arrival_date": op.facts.get("arrival_date"),
        "fee": format_token(op.fee),
        "provider": op.provider,
        "payout_id": op.facts.get("payout_id"),
    }
