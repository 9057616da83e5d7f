"""Consumer money function: deposit (shared/consumer/deposits.py), withdraw and transfer, internal or to an
outside address (shared/consumer/withdrawals.py). Bank deposits and payouts finish on Stripe's webhooks."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.access import require_consumer
from shared.consumer.commands import Destination
from shared.consumer.output import Deposited, Transferred, Withdrawn
from shared.models.consumer_money import (
    Deposit,
    TransferAny,
    Withdraw,
    is_outside_address,
)

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/consumer/deposit",
    summary="Pay by card (completed at once) or bank debit (202, completed by Stripe's webhook) and mint",
    responses={200: answer(Deposited, "Deposited"), 202: answer(Deposited, "Bank debit processing")},
)
def deposit(body: Deposit, idempotency_key: IdempotencyKey = None) -> Answer[Deposited]:
    principal = require_consumer(caller(router))

    def run() -> Outcome:
        status, data = capabilities().deposits.deposit(
            principal, body.amount, body.currency, body.payment_method, body.urgency, idempotency_key
        )
        return status, Deposited.of(data)

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/withdraw",
    summary="Burn and pay out to a bank through Stripe Connect, or send to an outside address",
)
def withdraw(body: Withdraw, idempotency_key: IdempotencyKey = None) -> Answer[Withdrawn]:
    principal = require_consumer(caller(router))
    where = body.destination
    destination = Destination(**where.model_dump())

    def run() -> Outcome:
        withdrawn = capabilities().withdrawals.withdraw(
            principal, body.amount, body.currency, destination, idempotency_key
        )
        return 200, Withdrawn.of(withdrawn)

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/transfer",
    summary="Send to a consumer of the tenant (instant, free) or to an outside address (a provider fee)",
)
def transfer(body: TransferAny, idempotency_key: IdempotencyKey = None) -> Answer[Transferred]:
    principal = require_consumer(caller(router))

    def run() -> Outcome:
        if is_outside_address(body.to, body.chain):
            sent = capabilities().withdrawals.transfer_out(
                principal, body.to, body.amount, body.currency, body.chain, body.memo, idempotency_key
            )
        else:
            sent = capabilities().consumer.transfer(principal, body.to, body.amount, body.currency, body.memo)
        return 200, Transferred.of(sent)

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
