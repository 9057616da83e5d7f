"""Invoice batches function: bulk creation (up to 500 drafts in one call, a result per entry)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.models.invoice_bulk import BulkInvoicesEnvelope, InvoiceBulkCreate

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v1/invoices/bulk",
    summary="Create up to 500 draft invoices; one bad entry fails only itself",
    responses={
        200: {
            "description": "a result per entry (index order), with the created and failed counts",
            "content": {"application/json": {"model": BulkInvoicesEnvelope}},
        }
    },
)
def create_invoices_in_bulk(body: InvoiceBulkCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = caller(router)

    def create() -> Outcome:
        outcome = capabilities().bulk_invoices.create_many(principal, body.invoices)
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=outcome.created)
        return 200, outcome.model_dump(mode="json")

    return idempotent(router, principal, idempotency_key, body, create)


app, lambda_handler = rest_function(router, metrics=metrics)
