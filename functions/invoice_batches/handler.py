"""Invoice batches function: bulk creation (up to 500 drafts in one call, a result per entry) and invoice
imports (a CSV or JSON rows, up to 10,000, accepted with 202 and created in the background)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import Answer, answer, caller, ok, raw_body, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.api.import_requests import import_body
from shared.bootstrap import app as capabilities
from shared.enterprise.import_rows import COLUMNS
from shared.models.enterprise import REFERENCE_PATTERN, ImportData
from shared.models.invoice_bulk import BulkInvoicesResult, InvoiceBulkCreate

# A CSV of 10,000 rows: well inside Lambda's 6 MB request payload.
MAX_IMPORT_BYTES = 5 * 1024 * 1024
metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v1/invoices/bulk",
    summary="Create up to 500 draft invoices; one bad entry fails only itself",
    responses={
        200: answer(BulkInvoicesResult, "a result per entry (index order), created and failed counts")
    },
)
def create_invoices_in_bulk(
    body: InvoiceBulkCreate, idempotency_key: IdempotencyKey = None
) -> Answer[BulkInvoicesResult]:
    principal = caller(router)

    def create() -> Outcome:
        outcome = capabilities().bulk_invoices.create_many(principal, body.invoices)
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=outcome.created)
        return 200, outcome.model_dump(mode="json")

    return idempotent(router, principal, idempotency_key, body, create)


@router.post(
    "/api/v1/invoice-imports",
    summary="Import invoices from a CSV (text/csv, header " + ", ".join(COLUMNS) + ") or JSON rows",
    description="Rows sharing an external_id form one invoice; row 1 is the first row after the header. "
    "A repeated reference within 30 days answers the same import.",
    responses={202: answer(ImportData, "the import, queued; GET it (or follow import:<id>) for progress")},
)
def import_invoices(
    reference: Annotated[str | None, Query(pattern=REFERENCE_PATTERN)] = None,
    idempotency_key: IdempotencyKey = None,
) -> Answer[ImportData]:
    principal = caller(router)
    event = router.current_event.raw_event
    body = raw_body(event)
    rows, reference = import_body(body, event.get("headers") or {}, reference)
    fingerprint = {"sha256": hashlib.sha256(body).hexdigest(), "reference": reference}

    def accept() -> Outcome:
        accepted = capabilities().invoice_imports.accept(principal, rows, reference)
        return 202, {"import": accepted.model_dump(mode="json")}

    return idempotent(router, principal, idempotency_key, fingerprint, accept)


@router.get(
    "/api/v1/invoice-imports/<import_id>",
    summary="An import's status, counts and row errors",
    responses={200: answer(ImportData, "status, created, failed, errors [{row, field, error}]")},
)
def get_import(import_id: str) -> Answer[ImportData]:
    found = capabilities().invoice_imports.get(caller(router), import_id)
    return ok({"import": found.model_dump(mode="json")})


app, lambda_handler = rest_function(
    router, metrics=metrics, also_accept=("text/csv",), max_body_bytes=MAX_IMPORT_BYTES
)
