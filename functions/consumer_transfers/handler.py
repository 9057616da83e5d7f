"""Consumer transfers function: batch transfers (paid inside the ledger or through a provider), swaps
between stablecoins, and requests to pay (shared/consumer/batches.py, swaps.py, requests.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer.batches import Recipient
from shared.consumer.service import require_consumer
from shared.models.consumer_transfers import (
    BatchAnswer,
    BatchTransferBody,
    SwapBody,
    SwapOut,
    SwapQuoteBody,
    SwapQuoteOut,
    envelope,
)

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post(
    "/api/consumer/batch-transfer",
    summary="Pay 1-100 recipients: consumers inside the ledger, outside addresses through the provider",
    responses={201: envelope(BatchAnswer, "the batch, each item paid, processing or failed")},
)
def batch_transfer(body: BatchTransferBody, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()
    lines = [Recipient(line.to, line.amount, line.currency) for line in body.recipients]

    def run() -> Outcome:
        return 201, {"batch": capabilities().batch_transfers.create(principal, lines, body.reference)}

    return idempotent(router, principal, idempotency_key, body, run)


@router.get(
    "/api/consumer/batch-transfer/<batch_id>",
    summary="One of the caller's batch transfers",
    responses={200: envelope(BatchAnswer, "the batch and its items")},
)
def get_batch(batch_id: str) -> Response[Any]:
    return ok({"batch": capabilities().batch_transfers.get(_consumer(), batch_id)})


@router.post(
    "/api/consumer/batch-transfer/<batch_id>/retry-failed",
    summary="Send the batch's failed items again and finish unfinished ones; a paid item is never paid twice",
    responses={200: envelope(BatchAnswer, "the batch after the retry")},
)
def retry_failed(batch_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()

    def run() -> Outcome:
        return 200, {"batch": capabilities().batch_transfers.retry_failed(principal, batch_id)}

    return idempotent(router, principal, idempotency_key, None, run)


@router.post(
    "/api/consumer/swap/quote",
    summary="Price a swap between two coins; the quote holds for 30 seconds",
    responses={200: envelope(SwapQuoteOut, "the quote")},
)
def swap_quote(body: SwapQuoteBody, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()

    def run() -> Outcome:
        return 200, capabilities().swaps.quote(principal, body.from_, body.to, body.amount)

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/swap",
    summary="Swap by quote_id, or at the current price within max_slippage_bps (409 quote_expired / "
    "slippage_exceeded: nothing swapped)",
    responses={200: envelope(SwapOut, "the swap's transaction, rate, amounts and fee")},
)
def swap(body: SwapBody, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()

    def run() -> Outcome:
        swaps = capabilities().swaps
        if body.quote_id is not None:
            return 200, swaps.swap_quoted(principal, body.quote_id, body.max_slippage_bps)
        assert body.from_ and body.to and body.amount is not None  # the model requires all three
        return 200, swaps.swap_now(principal, body.from_, body.to, body.amount, body.max_slippage_bps)

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
