"""The invoices routes' answers (the envelope's `data`), as `Invoice.to_api` writes them."""

from typing import Literal

from shared.models.output import Output, Page


class InvoiceLineOut(Output):
    description: str
    quantity: int
    unit_price: str
    tax_rate: str
    amount: str
    tax_amount: str


class RecurringScheduleOut(Output):
    """The schedule of a repeating invoice: the next one is made every `interval_count` weeks or months."""

    interval: str
    interval_count: int
    end_after: int | None


class InvoiceOut(Output):
    """An invoice: amounts as decimal strings in its currency, times as ISO-8601 UTC."""

    id: str
    object: Literal["invoice"]
    number: str
    tenant_id: str
    customer_id: str
    currency: str
    status: str
    line_items: list[InvoiceLineOut]
    subtotal: str
    tax_amount: str
    total_amount: str
    amount_paid: str
    amount_due: str
    due_date: str
    recurring: bool
    recurring_schedule: RecurringScheduleOut | None = None
    category: str | None
    payment_type: str
    enterprise_wallet_address: str | None
    metadata: dict[str, str]
    created_by: str
    created_at: str
    updated_at: str
    sent_at: str | None
    voided_at: str | None


class InvoiceAnswer(Output):
    """Create, read, send and void answer `{invoice}`."""

    invoice: InvoiceOut


class InvoicePage(Page):
    invoices: list[InvoiceOut]


class InvoiceDeleted(Output):
    id: str
    object: Literal["invoice"]
    deleted: bool
