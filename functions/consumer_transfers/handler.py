"""Consumer transfers function: batch transfers, paid inside the ledger or through a provider
(shared/consumer/batches.py)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer.access import require_consumer
from shared.consumer.commands import Recipient
from shared.consumer.output import BatchAnswer
from shared.models.consumer_transfers import BatchTransferBody

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post(
    "/api/consumer/batch-transfer",
    summary="Pay 1-100 recipients: consumers inside the ledger, outside addresses through the provider",
    responses={201: {"description": "The batch, each item paid, processing or failed"}},
)
def batch_transfer(body: BatchTransferBody, idempotency_key: IdempotencyKey = None) -> Answer[BatchAnswer]:
    principal = _consumer()
    lines = [Recipient(line.to, line.amount, line.currency) for line in body.recipients]

    def run() -> Outcome:
        batch = capabilities().batch_transfers.create(principal, lines, body.reference)
        return 201, BatchAnswer.of({"batch": batch})

    return idempotent(router, principal, idempotency_key, body, run)


@router.get(
    "/api/consumer/batch-transfer/<batch_id>",
    summary="One of the caller's batch transfers",
)
def get_batch(batch_id: str) -> Answer[BatchAnswer]:
    return ok(BatchAnswer.of({"batch": capabilities().batch_transfers.get(_consumer(), batch_id)}))


@router.post(
    "/api/consumer/batch-transfer/<batch_id>/retry-failed",
    summary="Send the batch's failed items again and finish unfinished ones; a paid item is never paid twice",
)
def retry_failed(batch_id: str, idempotency_key: IdempotencyKey = None) -> Answer[BatchAnswer]:
    principal = _consumer()

    def run() -> Outcome:
        batch = capabilities().batch_transfers.retry_failed(principal, batch_id)
        return 200, BatchAnswer.of({"batch": batch})

    return idempotent(router, principal, idempotency_key, None, run)


app, lambda_handler = rest_function(router, metrics=metrics)
