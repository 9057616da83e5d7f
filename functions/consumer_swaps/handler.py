"""Consumer swaps function: quotes that hold 30 seconds and swaps between stablecoins at the provider
(shared/consumer/swaps.py)."""

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
from shared.models.consumer_transfers import SwapBody, SwapOut, SwapQuoteBody, SwapQuoteOut, envelope

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


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
