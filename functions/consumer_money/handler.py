"""Consumer money function: deposit (shared/consumer/deposits.py), withdraw and transfer, internal or to an
outside address (shared/consumer/withdrawals.py). Bank deposits and payouts finish on Stripe's webhooks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from shared.api import caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.service import require_consumer
from shared.consumer.withdrawals import Destination
from shared.models.consumer_money import (
    Deposit,
    DepositAnswer,
    TransferAnswer,
    TransferAny,
    Withdraw,
    WithdrawAnswer,
    is_outside_address,
)

metrics = Metrics()
router = APIGatewayRouter()


def _typed(model: type[BaseModel], description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


@router.post(
    "/api/consumer/deposit",
    summary="Pay by card (completed at once) or bank debit (202, completed by Stripe's webhook) and mint",
    responses={200: _typed(DepositAnswer, "Deposited"), 202: _typed(DepositAnswer, "Bank debit processing")},
)
def deposit(body: Deposit, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = require_consumer(caller(router))

    def run() -> Outcome:
        return capabilities().deposits.deposit(
            principal, body.amount, body.currency, body.payment_method, body.urgency, idempotency_key
        )

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/withdraw",
    summary="Burn and pay out to a bank through Stripe Connect, or send to an outside address",
    responses={200: _typed(WithdrawAnswer, "Withdrawn")},
)
def withdraw(body: Withdraw, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = require_consumer(caller(router))
    where = body.destination
    destination = Destination(**where.model_dump())

    def run() -> Outcome:
        return 200, capabilities().withdrawals.withdraw(
            principal, body.amount, body.currency, destination, idempotency_key
        )

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/transfer",
    summary="Send to a consumer of the tenant (instant, free) or to an outside address (a provider fee)",
    responses={200: _typed(TransferAnswer, "Sent")},
)
def transfer(body: TransferAny, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = require_consumer(caller(router))

    def run() -> Outcome:
        if is_outside_address(body.to, body.chain):
            return 200, capabilities().withdrawals.transfer_out(
                principal, body.to, body.amount, body.currency, body.chain, body.memo, idempotency_key
            )
        return 200, capabilities().consumer.transfer(
            principal, body.to, body.amount, body.currency, body.memo
        )

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
