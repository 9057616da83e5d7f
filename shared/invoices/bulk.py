"""Bulk invoice creation: up to 500 drafts in a few transactions, numbered in one gapless run per chunk.

Each chunk moves the tenant's counter and stores its invoices (with their audit and outbox items) in one
TransactWriteItems, so numbers stay sequential and unique beside concurrent single creates: a lost counter
race re-reads the counter and renumbers the chunk. A bad entry is refused alone, before any number is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from shared.auth import MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.errors import ConcurrentUpdate, WalletsError
from shared.ids import new_id
from shared.invoices.ports import InvoiceRepository
from shared.invoices.service import draft_invoice, invoice_records, jittered_backoff
from shared.models.invoice import Invoice, InvoiceCreate, price_lines
from shared.models.invoice_bulk import (
    BulkInvoiceResult,
    BulkInvoicesResult,
    BulkInvoiceSummary,
    BulkItemError,
    field_errors,
)

# TransactWriteItems takes 100 operations: the number counter plus 4 per invoice (invoice, audit, event, and
# the event's per-resource sequence counter that shared.adapters.dynamodb_events adds).
CHUNK = 24


class BulkInvoiceService:
    def __init__(
        self,
        repository: InvoiceRepository,
        clock: Clock,
        *,
        max_attempts: int = 40,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff

    def create_many(self, principal: Principal, entries: list[Any]) -> BulkInvoicesResult:
        require_role(principal, MERCHANT)
        results: dict[int, BulkInvoiceResult] = {}
        valid: list[tuple[int, InvoiceCreate]] = []
        for index, entry in enumerate(entries):
            try:
                valid.append((index, InvoiceCreate.model_validate(entry)))
            except ValidationError as invalid:
                error = BulkItemError(
                    code="validation_error",
                    message="the invoice is invalid",
                    details=field_errors(invalid.errors()),
                )
                results[index] = BulkInvoiceResult(index=index, status="failed", error=error)
        for start in range(0, len(valid), CHUNK):
            chunk = valid[start : start + CHUNK]
            try:
                stored = self._store_chunk(principal, chunk)
            except WalletsError as refused:
                error = BulkItemError(code=refused.code, message=refused.message)
                for index, _ in chunk:
                    results[index] = BulkInvoiceResult(index=index, status="failed", error=error)
                continue
            for (index, _), invoice in zip(chunk, stored, strict=True):
                summary = BulkInvoiceSummary.from_invoice(invoice)
                results[index] = BulkInvoiceResult(index=index, status="created", invoice=summary)
        ordered = [results[index] for index in range(len(entries))]
        created = sum(1 for result in ordered if result.status == "created")
        return BulkInvoicesResult(results=ordered, created=created, failed=len(ordered) - created)

    def _store_chunk(self, principal: Principal, chunk: list[tuple[int, InvoiceCreate]]) -> list[Invoice]:
        priced = [(request, price_lines(request.line_items, request.currency)) for _, request in chunk]
        ids = [new_id("inv") for _ in chunk]
        for attempt in range(self._max_attempts):
            previous = self._repository.current_number(principal.tenant_id)
            first = (previous or 0) + 1
            now = self._clock.now()
            invoices = [
                draft_invoice(principal, request, lines, invoice_id, first + offset, now)
                for offset, ((request, lines), invoice_id) in enumerate(zip(priced, ids, strict=True))
            ]
            records = [
                record
                for invoice in invoices
                for record in invoice_records(
                    invoice, principal.sub, "invoice.created", {"number": invoice.number}, now
                )
            ]
            try:
                self._repository.create_many(invoices, first + len(invoices) - 1, previous, records)
            except ConcurrentUpdate:
                self._backoff(attempt)
                continue
            return invoices
        raise ConcurrentUpdate("too many concurrent invoice creations for this tenant; retry")
