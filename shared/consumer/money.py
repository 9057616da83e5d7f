"""Consumer money in and out: the operation record every deposit, withdrawal and transfer out keeps, its
store port, and what the three flows share (the operation id, amounts, limits, events).

One record per operation (`CONSUMER#{tenant}#{user}` / `OP#{id}`) names, before anything outside is called,
the provider and the amounts; the operation id fixes every outside idempotency key (`dep-pi-{op}`,
`dep-mint-{op}`, `wd-burn-{op}`, ...) and the journal id, so a retry (the request's, or a redelivered
webhook) repeats each step as the same step and never moves money twice. The KYC usage counters are charged
in the transaction that creates the record (before any charge, burn or transfer: nothing is done that the
person's limit would refuse afterwards) and released in the one that marks it failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from shared.auth import Principal
from shared.consumer.ports import CounterCharge
from shared.consumer.records import ConsumerTransaction, TransactionStatus, TransactionType, format_token
from shared.ids import new_id
from shared.outbox.records import DomainEvent, Record, Resource, domain_event, iso


class OpKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER_OUT = "transfer_out"


class OpState(StrEnum):
    STARTED = "started"
    """Recorded with its limit charge; outside calls may have happened (each keyed by the operation)."""
    PROCESSING = "processing"
    """Waiting on the outside world: a bank debit to settle, a payout to arrive."""
    COMPLETED = "completed"
    FAILED = "failed"
    REVERSED = "reversed"


OPEN = (OpState.STARTED, OpState.PROCESSING)


@dataclass(frozen=True)
class MoneyOp:
    """One deposit, withdrawal or transfer out of a person. Amounts: `token_amount` in the coin's minor
    units, `fiat_amount` in the backing currency's (0 when no fiat moves), `usd` in micro-USD (the limit
    charge)."""

    op_id: str
    tenant_id: str
    user_id: str
    kind: OpKind
    state: OpState
    coin: str
    token_amount: int
    fiat_amount: int
    usd: int
    provider: str
    created_at: datetime
    updated_at: datetime
    fee: int = 0
    # Flow-specific facts, all strings: urgency, payment_intent_id, address, chain, account, payout_id...
    facts: dict[str, str] = field(default_factory=dict)

    def with_(self, state: OpState | None = None, now: datetime | None = None, /, **facts: str) -> MoneyOp:
        return replace(
            self,
            state=state or self.state,
            updated_at=now or self.updated_at,
            facts={**self.facts, **facts},
        )

    def line(self, status: TransactionStatus, counterparty: str | None = None) -> ConsumerTransaction:
        """The person's history line of this operation (its id is the operation's)."""
        kind = {
            OpKind.DEPOSIT: TransactionType.DEPOSIT,
            OpKind.WITHDRAWAL: TransactionType.WITHDRAWAL,
            OpKind.TRANSFER_OUT: TransactionType.TRANSFER_SENT,
        }[self.kind]
        settled = self.updated_at if status is TransactionStatus.COMPLETED else None
        return ConsumerTransaction(
            self.op_id,
            kind,
            self.token_amount,
            self.coin,
            status,
            counterparty,
            self.provider,
            self.created_at,
            settled,
            self.facts.get("journal_id"),
            self.facts.get("memo"),
        )


def operation_id(kind: OpKind, principal: Principal, request_key: str | None) -> str:
    """Fixed by the caller's Idempotency-Key (scoped to the caller, as the key is), so a retried request
    after a crash meets its own record and outside keys; new on every call without one."""
    prefix = {OpKind.DEPOSIT: "dep", OpKind.WITHDRAWAL: "wdr", OpKind.TRANSFER_OUT: "xfr"}[kind]
    if request_key is None:
        return new_id(prefix)
    scoped = f"{kind.value}\x1f{principal.tenant_id}\x1f{principal.sub}\x1f{request_key}".encode()
    return f"{prefix}_{hashlib.sha256(scoped).hexdigest()[:32]}"


def usage_released(charges: Sequence[CounterCharge]) -> list[CounterCharge]:
    """The charges that undo `charges` (a failed operation gives its headroom back)."""
    return [replace(charge, amount=-charge.amount) for charge in charges]


def money_event(name: str, channel: str, op: MoneyOp, now: datetime, **data: Any) -> DomainEvent:

    body = {
        "tenant_id": op.tenant_id,
        "transaction_id": op.op_id,
        "amount": format_token(op.token_amount),
        "currency": op.coin,
        "provider": op.provider,
        "at": iso(now),
        **data,
    }
    return domain_event(name, [channel], body, now, resource=Resource("consumer", op.user_id))


class MoneyOpStore(Protocol):
    """Operation records, their history lines and usage counters, as TransactWriteItems operations (to
    commit with a journal through `LedgerStore.post`) or written alone with `write`."""

    def op(self, tenant_id: str, user_id: str, op_id: str) -> MoneyOp | None:
        """Strongly consistent."""
        ...

    def begin(self, op: MoneyOp, charges: Sequence[CounterCharge], line: ConsumerTransaction) -> list[Any]:
        """Put the new record (absent only), charge each counter (guarded by its limit), put the line."""
        ...

    def advance(
        self,
        op: MoneyOp,
        expected: Sequence[OpState],
        line: ConsumerTransaction | None = None,
        release: Sequence[CounterCharge] = (),
    ) -> list[Any]:
        """Store `op` as it now is while the stored state is one of `expected`; update the history line's
        status, settlement and journal; give back `release` (already negative) on the counters."""
        ...

    def records(self, records: Sequence[Record]) -> list[Any]:
        """Plain items put only if absent (events, a webhook's processed marker)."""
        ...

    def connected_account(self, tenant_id: str, user_id: str, bank_key: str) -> str | None:
        """The Stripe connected account made for this person's bank account, if one was."""
        ...

    def remember_account(self, tenant_id: str, user_id: str, bank_key: str, account_id: str) -> str:
        """Keep the account made for the bank account; the one kept first wins and is returned."""
        ...

    def write(self, operations: Sequence[Any]) -> None:
        """Commit operations with no journal in one transaction (errors.ConcurrentUpdate when a condition
        failed)."""
        ...
