"""Stripe's signed events for consumer money: a bank deposit's PaymentIntent succeeding or failing, and a
withdrawal's payout failing. Recognised by the metadata our requests set (`kind`), applied once each (the
event's processed marker commits with the effect). A tenant treasury's deposits run on the same engine under
their own `kind` (shared/treasury) and are routed to it the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.auth import TREASURY_HOLDER
from shared.consumer.money import OPEN, MoneyOpStore, OpKind
from shared.stripe_events.service import PAYMENT_FAILED, SUCCEEDED, payment_of

if TYPE_CHECKING:
    from shared.consumer.deposits import DepositService
    from shared.consumer.withdrawals import WithdrawalService

PAYOUT_FAILED = "payout.failed"


class ConsumerMoneyFinisher:
    """The sweeper's way in: an operation left open past its deadline is finished by its own flow."""

    def __init__(
        self,
        store: MoneyOpStore,
        deposits: Callable[[], DepositService],
        withdrawals: Callable[[], WithdrawalService],
        treasury_deposits: Callable[[], DepositService],
    ) -> None:
        self._store = store
        self._deposits = deposits
        self._withdrawals = withdrawals
        self._treasury_deposits = treasury_deposits

    def finish(self, tenant_id: str, user_id: str, op_id: str) -> str:
        op = self._store.op(tenant_id, user_id, op_id)
        if op is None or op.state not in OPEN:
            return "settled"
        if op.kind is OpKind.DEPOSIT and user_id == TREASURY_HOLDER:
            return self._treasury_deposits().finish(op)
        if op.kind is OpKind.DEPOSIT:
            return self._deposits().finish(op)
        return self._withdrawals().finish(op)


class ConsumerMoneyEvents:
    def __init__(
        self,
        deposits: Callable[[], DepositService],
        withdrawals: Callable[[], WithdrawalService],
        treasury_deposits: Callable[[], DepositService],
    ) -> None:
        self._deposits = deposits
        self._withdrawals = withdrawals
        self._treasury_deposits = treasury_deposits

    def claims(self, event_type: str, data: dict[str, Any]) -> bool:
        metadata = data.get("metadata")
        kind = metadata.get("kind") if isinstance(metadata, dict) else None
        if event_type in (SUCCEEDED, PAYMENT_FAILED):
            from shared.consumer.deposits import DEPOSIT_KIND
            from shared.treasury.service import TREASURY_DEPOSIT_KIND

            return kind in (DEPOSIT_KIND, TREASURY_DEPOSIT_KIND)
        if event_type == PAYOUT_FAILED:
            from shared.consumer.withdrawals import WITHDRAWAL_KIND

            return kind == WITHDRAWAL_KIND
        return False

    def apply(self, event_type: str, data: dict[str, Any], record: dict[str, Any]) -> str:
        if event_type in (SUCCEEDED, PAYMENT_FAILED):
            payment = payment_of(data)
            deposits = self._deposits()
            if not deposits.handles(payment):
                deposits = self._treasury_deposits()
            if event_type == SUCCEEDED:
                return deposits.payment_succeeded(payment, [{**record, "outcome": "deposited"}])
            return deposits.payment_failed(payment, [{**record, "outcome": "deposit_failed"}])
        return self._withdrawals().payout_failed(data, [{**record, "outcome": "reversed"}])
