"""The payouts function's treasury and payout routes (admins and merchants of the tenant): the treasury and
its deposits, creating a payroll or vendor payout, reading it, and the maker-checker decisions on it."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, ok
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.output import Deposited
from shared.models.consumer_money import Deposit
from shared.models.payouts import PayoutCreate
from shared.payouts.output import PayoutData
from shared.treasury.output import TreasuryData

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


@router.post(
    "/api/v1/payouts",
    summary="Create a payroll or vendor payout (1-5,000 items, each checked first) awaiting approval",
    description="A repeated reference within 30 days answers the payout it named (200).",
    responses={
        201: answer(PayoutData, "the payout, pending_approval"),
        200: answer(PayoutData, "the payout this reference named"),
    },
)
def create_payout(body: PayoutCreate, idempotency_key: IdempotencyKey = None) -> Answer[PayoutData]:
    principal = caller(router)

    def run() -> Outcome:
        created, data = capabilities().payouts.create(principal, body)
        return (201 if created else 200), PayoutData.of(data)

    return idempotent(router, principal, idempotency_key, body, run)


@router.get(
    "/api/v1/payouts/<payout_id>",
    summary="A payout with its items' states",
    responses={200: answer(PayoutData, "the payout and its items")},
)
def get_payout(payout_id: str) -> Answer[PayoutData]:
    return ok(PayoutData.of(capabilities().payouts.get(caller(router), payout_id)))


@router.post(
    "/api/v1/payouts/<payout_id>/approve",
    summary="Approve (admin, not the creator); the last approval needed holds the total on the treasury",
    responses={200: answer(PayoutData, "the payout, pending_approval or approved")},
)
def approve_payout(payout_id: str) -> Answer[PayoutData]:
    return ok(PayoutData.of(capabilities().payouts.approve(caller(router), payout_id)))


@router.post(
    "/api/v1/payouts/<payout_id>/reject",
    summary="Reject a payout awaiting approval (admin)",
    responses={200: answer(PayoutData, "the payout, rejected")},
)
def reject_payout(payout_id: str) -> Answer[PayoutData]:
    return ok(PayoutData.of(capabilities().payouts.reject(caller(router), payout_id)))


@router.post(
    "/api/v1/payouts/<payout_id>/cancel",
    summary="Cancel a payout before its processing began (admin); an approved one's hold goes back",
    responses={200: answer(PayoutData, "the payout, cancelled")},
)
def cancel_payout(payout_id: str) -> Answer[PayoutData]:
    return ok(PayoutData.of(capabilities().payouts.cancel(caller(router), payout_id)))


@router.post(
    "/api/v1/payouts/<payout_id>/retry-failed",
    summary="Hold the failed items again and run them under a new attempt; paid items are never touched",
    responses={200: answer(PayoutData, "the payout, processing again")},
)
def retry_failed_items(payout_id: str) -> Answer[PayoutData]:
    return ok(PayoutData.of(capabilities().payouts.retry_failed(caller(router), payout_id)))
