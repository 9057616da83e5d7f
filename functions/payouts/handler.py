"""Payouts function: the tenant's treasury (its wallet, balances and deposits), payroll and vendor payouts
with maker-checker approval (shared/treasury, shared/payouts; processing runs in payout_worker), and the
payroll claim links `/public/claim/{token}` (the page or JSON to anyone holding the link; the claim itself
to the consumer it is addressed to, signed in)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, html_response, ok, rest_function, wants_html
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.output import Deposited
from shared.errors import InvalidLink
from shared.models.consumer_money import Deposit
from shared.models.payouts import PayoutCreate
from shared.payouts.claim_page import claim_error_page, claim_page
from shared.payouts.output import ClaimData, PayoutData
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


@router.get(
    "/public/claim/<token>",
    summary="A payroll claim link: JSON for API clients, the hosted claim page for browsers",
    responses={200: answer(ClaimData, "amount, employer and countdown of the pay")},
)
def view_claim(token: str) -> Answer[ClaimData]:
    claims = capabilities().payroll_claims
    if wants_html((router.current_event.headers or {}).get("accept") or ""):
        try:
            return html_response(200, claim_page(claims.view(token)))
        except InvalidLink as exc:
            return html_response(400, claim_error_page(exc.message))
    return ok(ClaimData.of(claims.view(token)), headers={"Cache-Control": "no-store"})


@router.post(
    "/public/claim/<token>",
    summary="Claim the pay into the signed-in consumer's wallet (the one the item names, by id or email)",
    responses={200: answer(ClaimData, "the pay, claimed")},
)
def claim_pay(token: str) -> Answer[ClaimData]:
    return ok(ClaimData.of(capabilities().payroll_claims.claim(token, caller(router))))


app, lambda_handler = rest_function(router, metrics=metrics)
