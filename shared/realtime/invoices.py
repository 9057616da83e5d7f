"""Invoice reads for realtime subscriptions, through the invoices' own repository port."""

from __future__ import annotations

from typing import Protocol

from shared.models.invoice import Invoice, InvoiceStatus
from shared.realtime.ports import InvoiceView


class InvoiceLookup(Protocol):
    """The read half of shared.invoices.ports.InvoiceRepository: all that subscriptions need."""

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None: ...


class RepositoryInvoiceReader:
    """Answers subscriptions with the same invoice object as `GET /api/v1/invoices/{id}`.

    Reusing the invoices' repository and `Invoice.to_api` keeps one stored shape and one public
    shape (amounts as decimal strings) instead of a second reading of the item here.
    """

    def __init__(self, invoices: InvoiceLookup) -> None:
        self._invoices = invoices

    def get(self, tenant_id: str, invoice_id: str) -> InvoiceView | None:
        invoice = self._invoices.get(tenant_id, invoice_id)
        if invoice is None or invoice.deleted_at is not None:
            return None
        return InvoiceView(
            invoice_id=invoice.id,
            tenant_id=invoice.tenant_id,
            customer_id=invoice.customer_id,
            public=invoice.to_api(),
            is_draft=invoice.status is InvoiceStatus.DRAFT,
        )
