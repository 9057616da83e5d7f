"""Bulk invoice creation: the request (up to 500 invoices, each validated on its own) and the typed answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.invoice import Invoice
from shared.models.output import Output
from shared.money import format_amount, minor_units

MAX_BULK_INVOICES = 500
MAX_ERROR_DETAILS = 20


class InvoiceBulkCreate(BaseModel):
    """Body of POST /api/v1/invoices/bulk. Each entry is an InvoiceCreate body; it is validated apart from
    the others, so one bad entry fails only itself (its result carries the validation details)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    invoices: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BULK_INVOICES,
            description="up to 500 bodies of POST /api/v1/invoices",
            json_schema_extra={"items": {"type": "object"}},
        ),
    ]


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's errors of one entry as the envelope's details: `field` (dotted path), `message`, `type`."""
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())) or "body",
            "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            "type": str(error.get("type")),
        }
        for error in errors[:MAX_ERROR_DETAILS]
    ]


class BulkItemError(Output):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class BulkInvoiceSummary(Output):
    """A created invoice in brief; GET /api/v1/invoices/{id} reads it whole. Brief so that the answer for 500
    invoices fits the idempotency record that replays it (a DynamoDB item holds at most 400 KB)."""

    id: str
    object: Literal["invoice"] = "invoice"
    number: str
    customer_id: str
    currency: str
    status: str
    total_amount: str
    amount_due: str
    due_date: str

    @classmethod
    def from_invoice(cls, invoice: Invoice) -> BulkInvoiceSummary:
        places = minor_units(invoice.currency)
        return cls(
            id=invoice.id,
            number=invoice.number,
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            status=invoice.status.value,
            total_amount=format_amount(invoice.total_amount, places),
            amount_due=format_amount(invoice.amount_due, places),
            due_date=invoice.due_date.isoformat(),
        )


class BulkInvoiceResult(Output):
    index: int
    status: Literal["created", "failed"]
    invoice: BulkInvoiceSummary | None = None
    error: BulkItemError | None = None


class BulkInvoicesResult(Output):
    results: list[BulkInvoiceResult]
    created: int
    failed: int
