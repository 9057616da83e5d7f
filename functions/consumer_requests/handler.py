"""Consumer requests function: requests to pay between consumers, each an invoice addressed to the payer,
accepted (paid from the payer's balance) or declined (shared/consumer/requests.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer.service import require_consumer
from shared.models.consumer_transfers import PayRequestAnswer, PayRequestBody, PayRequestOut, envelope

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post(
    "/api/consumer/requests",
    summary="Ask another consumer to pay: an invoice addressed to them",
    responses={201: envelope(PayRequestOut, "the request (its id is the invoice's)")},
)
def request_to_pay(body: PayRequestBody, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()

    def run() -> Outcome:
        requests = capabilities().pay_requests
        return 201, requests.create(principal, body.from_, body.amount, body.currency, body.memo)

    return idempotent(router, principal, idempotency_key, body, run)


_ANSWERED = {200: envelope(PayRequestAnswer, "the request answered, and the transfer when accepted")}


@router.post("/api/consumer/requests/<request_id>/accept", summary="Pay a request", responses=_ANSWERED)
def accept_request(request_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()
    accept = capabilities().pay_requests.accept
    return idempotent(router, principal, idempotency_key, None, lambda: (200, accept(principal, request_id)))


@router.post("/api/consumer/requests/<request_id>/decline", summary="Decline a request", responses=_ANSWERED)
def decline_request(request_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()
    decline = capabilities().pay_requests.decline
    return idempotent(router, principal, idempotency_key, None, lambda: (200, decline(principal, request_id)))


app, lambda_handler = rest_function(router, metrics=metrics)
