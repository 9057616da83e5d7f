"""Consumer requests function: requests to pay between consumers, each an invoice addressed to the payer,
accepted (paid from the payer's balance) or declined (shared/consumer/requests.py)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer.access import require_consumer
from shared.consumer.output import PayRequestAnswer, PayRequestOut
from shared.models.consumer_transfers import PayRequestBody

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post(
    "/api/consumer/requests",
    summary="Ask another consumer to pay: an invoice addressed to them",
    responses={201: {"description": "The request (its id is the invoice's)"}},
)
def request_to_pay(body: PayRequestBody, idempotency_key: IdempotencyKey = None) -> Answer[PayRequestOut]:
    principal = _consumer()

    def run() -> Outcome:
        requests = capabilities().pay_requests
        return 201, PayRequestOut.of(
            requests.create(principal, body.from_, body.amount, body.currency, body.memo)
        )

    return idempotent(router, principal, idempotency_key, body, run)


@router.post("/api/consumer/requests/<request_id>/accept", summary="Pay a request from the caller's balance")
def accept_request(request_id: str, idempotency_key: IdempotencyKey = None) -> Answer[PayRequestAnswer]:
    principal = _consumer()

    def run() -> Outcome:
        return 200, PayRequestAnswer.of(capabilities().pay_requests.accept(principal, request_id))

    return idempotent(router, principal, idempotency_key, None, run)


@router.post("/api/consumer/requests/<request_id>/decline", summary="Decline a request")
def decline_request(request_id: str, idempotency_key: IdempotencyKey = None) -> Answer[PayRequestAnswer]:
    principal = _consumer()

    def run() -> Outcome:
        return 200, PayRequestAnswer.of(capabilities().pay_requests.decline(principal, request_id))

    return idempotent(router, principal, idempotency_key, None, run)


app, lambda_handler = rest_function(router, metrics=metrics)
