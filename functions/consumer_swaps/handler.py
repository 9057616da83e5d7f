"""Consumer swaps function: quotes that hold 30 seconds and swaps between stablecoins at the provider
(shared/consumer/swaps.py)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer.access import require_consumer
from shared.consumer.output import Swapped, SwapQuoteOut
from shared.models.consumer_transfers import SwapBody, SwapQuoteBody

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post(
    "/api/consumer/swap/quote",
    summary="Price a swap between two coins; the quote holds for 30 seconds",
)
def swap_quote(body: SwapQuoteBody, idempotency_key: IdempotencyKey = None) -> Answer[SwapQuoteOut]:
    principal = _consumer()

    def run() -> Outcome:
        return 200, SwapQuoteOut.of(capabilities().swaps.quote(principal, body.from_, body.to, body.amount))

    return idempotent(router, principal, idempotency_key, body, run)


@router.post(
    "/api/consumer/swap",
    summary="Swap by quote_id, or at the current price within max_slippage_bps (409 quote_expired / "
    "slippage_exceeded: nothing swapped)",
)
def swap(body: SwapBody, idempotency_key: IdempotencyKey = None) -> Answer[Swapped]:
    principal = _consumer()

    def run() -> Outcome:
        swaps = capabilities().swaps
        if body.quote_id is not None:
            return 200, Swapped.of(swaps.swap_quoted(principal, body.quote_id, body.max_slippage_bps))
        assert body.from_ and body.to and body.amount is not None  # the model requires all three
        return 200, Swapped.of(
            swaps.swap_now(principal, body.from_, body.to, body.amount, body.max_slippage_bps)
        )

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
