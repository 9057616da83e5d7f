"""Payouts function: the tenant's treasury (its wallet, balances and deposits) and payroll and vendor
payouts with maker-checker approval (shared/treasury, shared/payouts); processing runs in payout_worker."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.output import Deposited
from shared.models.consumer_money import Deposit
from shared.treasury.output import TreasuryData

metrics = Metrics()
router = APIGatewayRouter()


@router.get(
    "/api/v1/treasury",
    summary="The tenant's treasury wallet (made on first use) and its balance per coin",
    responses={200: answer(TreasuryData, "the treasury")},
)
def get_treasury() -> Answer[TreasuryData]:
    return ok(TreasuryData.of(capabilities().treasury.view(caller(router))))


@router.post(
    "/api/v1/treasury/deposit",
    summary="Fund the treasury by card (completed at once) or bank debit (202, completed by Stripe's "
    "webhook), then mint, as consumer deposits",
    responses={200: answer(Deposited, "Deposited"), 202: answer(Deposited, "Bank debit processing")},
)
def deposit_to_treasury(body: Deposit, idempotency_key: IdempotencyKey = None) -> Answer[Deposited]:
    principal = caller(router)

    def run() -> Outcome:
        status, data = capabilities().treasury_deposits.deposit(
            principal, body.amount, body.currency, body.payment_method, body.urgency, idempotency_key
        )
        return status, Deposited.of(data)

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
