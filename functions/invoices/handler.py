"""Invoices REST function: create, list, read, send, void and soft-delete a tenant's invoices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.adapters.dynamodb_idempotency import idempotency_store
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_table import dynamodb_client
from shared.api import build_resolver, handle_api_event, ok
from shared.auth import MERCHANT, principal_from_event, require_role
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.idempotency import IdempotentRequests
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate, InvoiceStatus

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="1-255 characters")]


@dataclass(frozen=True)
class Dependencies:
    invoices: InvoiceService
    idempotency: IdempotentRequests


def compose(settings: Settings, client: Any = None, clock: Clock | None = None) -> Dependencies:
    """Wire the real adapters once per process (module level), so warm invocations reuse the client."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)
    repository = DynamoDBInvoiceRepository(client, settings.table_name)
    store = idempotency_store(client, settings.table_name, settings.service_name)
    return Dependencies(InvoiceService(repository, clock), IdempotentRequests(store))


deps = compose(get_settings())


@router.post(
    "/api/v1/invoices", summary="Create a draft invoice", responses={201: {"description": "Created"}}
)
def create_invoice(body: InvoiceCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    require_role(principal, MERCHANT)
    request = {"method": "POST", "path": "/api/v1/invoices", "body": body.model_dump(mode="json")}

    def create() -> tuple[int, Any]:
        invoice = deps.invoices.create(principal, body)
        metrics.add_metric(name="InvoicesCreated", unit=MetricUnit.Count, value=1)
        return 201, {"invoice": invoice.to_api()}

    return deps.idempotency.run(principal, idempotency_key, request, create)


@router.get("/api/v1/invoices", summary="List invoices, newest first")
def list_invoices(
    status: Annotated[InvoiceStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    page = deps.invoices.list_invoices(principal, status=status, limit=limit, cursor=cursor)
    return ok(
        {
            "invoices": [invoice.to_api() for invoice in page.items],
            "next_cursor": page.next_cursor,
            "has_more": page.next_cursor is not None,
        }
    )


@router.get("/api/v1/invoices/<invoice_id>", summary="Read one invoice")
def get_invoice(invoice_id: str) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    return ok({"invoice": deps.invoices.get(principal, invoice_id).to_api()})


@router.post("/api/v1/invoices/<invoice_id>/send", summary="Send a draft invoice")
def send_invoice(invoice_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _transition(invoice_id, "send", idempotency_key)


@router.post("/api/v1/invoices/<invoice_id>/void", summary="Void an unpaid invoice")
def void_invoice(invoice_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return _transition(invoice_id, "void", idempotency_key)


@router.delete("/api/v1/invoices/<invoice_id>", summary="Soft-delete a draft or void invoice")
def delete_invoice(invoice_id: str) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    deps.invoices.delete(principal, invoice_id)
    return ok({"id": invoice_id, "object": "invoice", "deleted": True})


def _transition(invoice_id: str, action: str, idempotency_key: str | None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    require_role(principal, MERCHANT)
    request = {"method": "POST", "path": f"/api/v1/invoices/{invoice_id}/{action}", "body": None}
    act = deps.invoices.send if action == "send" else deps.invoices.void

    def transition() -> tuple[int, Any]:
        return 200, {"invoice": act(principal, invoice_id).to_api()}

    return deps.idempotency.run(principal, idempotency_key, request, transition)


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps.idempotency.register_lambda_context(context)
    return handle_api_event(app, event, context)
