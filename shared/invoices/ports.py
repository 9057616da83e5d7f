"""Ports the invoice services depend on; adapters in shared/adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.models.invoice import Invoice, InvoiceStatus


@dataclass(frozen=True)
class InvoiceQuery:
    """One page of a tenant's invoices, newest first; `customer_id` narrows to one customer's."""

    tenant_id: str
    limit: int
    status: InvoiceStatus | None = None
    customer_id: str | None = None
    cursor: str | None = None
    # Drafts are the merchant's work in progress: the customer sees an invoice once it is sent.
    hide_drafts: bool = False


@dataclass(frozen=True)
class InvoicePage:
    items: list[Invoice]
    next_cursor: str | None


class InvoiceRepository(Protocol):
    """Invoices and their per-tenant number counter.

    Every write is one transaction: the state change, guarded by a condition, plus its `records`
    (audit and outbox items built by shared.outbox.records). A lost condition raises errors.ConcurrentUpdate.
    """

    def current_number(self, tenant_id: str) -> int | None:
        """The tenant's last issued invoice number (strongly consistent), None before the first."""
        ...

    def create(
        self, invoice: Invoice, sequence: int, previous: int | None, records: list[dict[str, Any]]
    ) -> None:
        """Store `invoice` and move the counter from `previous` to `sequence`, or ConcurrentUpdate."""
        ...

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The invoice (soft-deleted ones included, with deleted_at set), or None."""
        ...

    def page(self, query: InvoiceQuery) -> InvoicePage:
        """A page of live invoices; a cursor that is not one this repository issued is ValidationFailed."""
        ...

    def change_status(self, invoice: Invoice, expected: InvoiceStatus, records: list[dict[str, Any]]) -> None:
        """Persist `invoice`'s new status/timestamps if the stored one is still `expected` and live."""
        ...

    def soft_delete(
        self, invoice: Invoice, expected: InvoiceStatus, deleted_at: datetime, records: list[dict[str, Any]]
    ) -> None:
        """Mark the invoice deleted (gone from every list and read) if still `expected` and live."""
        ...
