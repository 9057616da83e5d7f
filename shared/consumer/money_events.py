"""Stripe's signed events for consumer money: a bank deposit's PaymentIntent succeeding or failing, and a
withdrawal's payout failing. Recognised by the metadata our requests set (`kind`), applied once each (the
event's processed marker commits with the effect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    ) -> None:
        self._store = store
        self._deposits = deposits
        self._withdrawals = withdrawals

    def finish(self, tenant_id: str, user_id: str, op_id: str) -> str:
        op = self._store.op(tenant_id, user_id, op_id)
        if op is None or op.state not in OPEN:
            return "settled"
        if op.kind is OpKind.DEPOSIT:
            return self._deposits().finish(op)
        return self._withdrawals().finish(op)


class ConsumerMoneyEvents:
    def __init__(
        self, deposits: Callable[[], DepositService], withdrawals: Callable[[], WithdrawalService]
    ) -> None:
        self._deposits = deposits
        self._withdrawals = withdrawals

    def claims(self, event_type: str, data: dict[str, Any]) -> bool:
        metadata = data.get("metadata")
        kind = metadata.get("kind") if isinstance(metadata, dict) else None
        if event_type in (SUCCEEDED, PAYMENT_FAILED):
            from shared.consumer.deposits import DEPOSIT_KIND

            return kind == DEPOSIT_KIND
        if event_type == PAYOUT_FAILED:
            from shared.consumer.withdrawals import WITHDRAWAL_KIND

            return kind == WITHDRAWAL_KIND
        return False

    def apply(self, event_type: str, data: dict[str, Any], record: dict[str, Any]) -> str:
        if event_type == SUCCEEDED:
            return self._deposits().payment_succeeded(payment_of(data), [{**record, "outcome": "deposited"}])
        if event_type == PAYMENT_FAILED:
            return self._deposits().payment_failed(
                payment_of(data), [{**record, "outcome": "deposit_failed"}]
            )
        return self._withdrawals().payout_failed(data, [{**record, "outcome": "reversed"}])
