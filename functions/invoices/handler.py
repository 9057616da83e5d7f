"""Invoices REST function: create, list, read, send, void and soft-delete a tenant's invoices."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import Answer, caller, ok, page_of, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.invoices.output import InvoiceAnswer, InvoiceDeleted, InvoicePage
from shared.models.invoice import InvoiceCreate, InvoiceStatus

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v1/invoices", summary="Create a draft invoice", responses={201: {"description": "Created"}}
)
def create_invoice(body: InvoiceCreate, idempotency_key: IdempotencyKey = None) -> Answer[InvoiceAnswer]:
    principal = caller(router)

    def create() -> Outcome:
        invoice = capabilities().invoices.create(principal, body)
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=1)
        return 201, InvoiceAnswer.of({"invoice": invoice.to_api()})

    return idempotent(router, principal, idempotency_key, body, create)


@router.get("/api/v1/invoices", summary="List invoices, newest first")
def list_invoices(
    status: Annotated[InvoiceStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Answer[InvoicePage]:
    page = capabilities().invoices.list_invoices(caller(router), status=status, limit=limit, cursor=cursor)
    return ok(InvoicePage.of(page_of("invoices", [i.to_api() for i in page.items], page.next_cursor)))


@router.get("/api/v1/invoices/<invoice_id>", summary="Read one invoice")
def get_invoice(invoice_id: str) -> Answer[InvoiceAnswer]:
    return ok(InvoiceAnswer.of({"invoice": capabilities().invoices.get(caller(router), invoice_id).to_api()}))


@router.post("/api/v1/invoices/<invoice_id>/send", summary="Send a draft invoice")
def send_invoice(invoice_id: str, idempotency_key: IdempotencyKey = None) -> Answer[InvoiceAnswer]:
    return _transition(invoice_id, "send", idempotency_key)


@router.post("/api/v1/invoices/<invoice_id>/void", summary="Void an unpaid invoice")
def void_invoice(invoice_id: str, idempotency_key: IdempotencyKey = None) -> Answer[InvoiceAnswer]:
    return _transition(invoice_id, "void", idempotency_key)


@router.delete("/api/v1/invoices/<invoice_id>", summary="Soft-delete a draft or void invoice")
def delete_invoice(invoice_id: str) -> Answer[InvoiceDeleted]:
    capabilities().invoices.delete(caller(router), invoice_id)
    return ok(InvoiceDeleted(id=invoice_id, object="invoice", deleted=True))


def _transition(invoice_id: str, action: str, idempotency_key: str | None) -> Response[Any]:
    principal = caller(router)
    invoices = capabilities().invoices
    act = invoices.send if action == "send" else invoices.void
    return idempotent(
        router,
        principal,
        idempotency_key,
        None,
        lambda: (200, InvoiceAnswer.of({"invoice": act(principal, invoice_id).to_api()})),
    )


app, lambda_handler = rest_function(router, metrics=metrics)
