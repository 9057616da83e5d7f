"""Ports the invoice services depend on; adapters in shared/adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from shared.errors import InvalidState
from shared.models.invoice import Invoice, InvoiceStatus
from shared.outbox.records import Record


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


@dataclass(frozen=True)
class DueMarker:
    """A sent invoice's entry in the due-date index (opaque `key` for removing it)."""

    tenant_id: str
    invoice_id: str
    due_date: date
    key: tuple[str, str]


class InvoiceDueIndex(Protocol):
    """Sent invoices by due date, for the overdue run."""

    def ended_before(self, day: date, limit: int) -> list[DueMarker]:
        """Markers whose due date is before `day`, at most `limit`."""
        ...

    def forget(self, marker: DueMarker) -> None:
        """Remove a settled invoice's marker (idempotent)."""
        ...


@dataclass(frozen=True)
class RecurringMarker:
    """A recurring series' entry: its latest invoice, when the next is due, how many it has made."""

    tenant_id: str
    invoice_id: str
    next_at: datetime
    made: int
    key: tuple[str, str]


class InvoiceAutoPay(Protocol):
    """Paying a new invoice from its customer's consumer wallet when they asked for it (shared/consumer)."""

    def pay_from_balance(self, invoice: Invoice) -> bool:
        """True when `invoice` was paid now (or had been by an earlier run); False when its customer is no
        consumer with `auto_pay` on, or their wallet or limit cannot cover it: it stays sent."""
        ...


class RecurringIndex(Protocol):
    def due(self, now: datetime, limit: int) -> list[RecurringMarker]: ...

    def exists(self, marker: RecurringMarker) -> bool:
        """Whether `marker` is still there (gone: another run made its invoice)."""
        ...

    def issue(
        self,
        marker: RecurringMarker,
        invoice: Invoice,
        previous: int | None,
        records: list[Record],
        following: datetime | None,
    ) -> None:
        """Store the series' next invoice (sent, numbered after `previous`), drop `marker` and put the next
        one at `following` (None: the series ended), in one transaction; ConcurrentUpdate on any race."""
        ...


class WalletHoldsMoney(InvalidState):
    """The invoice's wallet holds money, or a funding, payment or refund of it is in flight."""


class InvoiceRepository(Protocol):
    """Invoices and their per-tenant number counter.

    Every write is one transaction: the state change, guarded by a condition, plus its `records`
    (audit and outbox items built by shared.outbox.records). A lost condition raises errors.ConcurrentUpdate.
    """

    def current_number(self, tenant_id: str) -> int | None:
        """The tenant's last issued invoice number (strongly consistent), None before the first."""
        ...

    def create(self, invoice: Invoice, sequence: int, previous: int | None, records: list[Record]) -> None:
        """Store `invoice` and move the counter from `previous` to `sequence`, or ConcurrentUpdate."""
        ...

    def create_many(
        self, invoices: list[Invoice], last: int, previous: int | None, records: list[Record]
    ) -> None:
        """Store `invoices` (one tenant's, numbered previous+1..last) and move the counter from `previous`
        to `last` in one transaction (at most 100 operations in all), or ConcurrentUpdate."""
        ...

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        """The invoice (soft-deleted ones included, with deleted_at set), or None."""
        ...

    def page(self, query: InvoiceQuery) -> InvoicePage:
        """A page of live invoices; a cursor that is not one this repository issued is ValidationFailed."""
        ...

    def change_status(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        records: list[Record],
        *,
        wallet_empty: bool = False,
        due_marker: DueMarker | None = None,
    ) -> None:
        """Persist `invoice`'s new status/timestamps if the stored one is still `expected` and live. With
        `wallet_empty`, the same transaction requires the invoice's wallet (if any) to hold nothing and to
        have no funding or payment in flight (WalletHoldsMoney). A sent invoice enters the due-date index
        in the same transaction; `due_marker` leaves it there."""
        ...

    def soft_delete(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        deleted_at: datetime,
        records: list[Record],
        *,
        wallet_empty: bool = False,
    ) -> None:
        """Mark the invoice deleted (gone from every list and read) if still `expected` and live; with
        `wallet_empty` as change_status."""
        ...
