"""Invoice imports: accepted at once (202), created in the background from a queue, batch by batch.

Accepting reads the file (a bad file is a 400), groups its rows by external_id into batches of up to 31
invoices and queues one message per batch: nothing heavier happens in the request. The worker checks each
batch's rows (shared/enterprise/import_rows.py) and stores, in one TransactWriteItems, the invoices that
passed (counter, invoices with their audit and outbox items), its row errors, the batch marked done, the
import's counts and a progress event. A batch is
done exactly once: its `done` condition makes a redelivered message a no-op. A repeated `reference` within
30 days answers the import it named (and queues again whatever of it is still open, so an interrupted
acceptance heals). Progress: `import.created`, `import.progress` per batch, `import.completed` once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.enterprise.import_rows import check_rows, split_rows
from shared.enterprise.ports import (
    ImportBatch,
    ImportQueue,
    ImportStore,
    InvoiceImport,
    ReferenceTaken,
)
from shared.errors import ConcurrentUpdate, NotFound
from shared.ids import new_id
from shared.invoices.service import draft_invoice, invoice_records, jittered_backoff
from shared.models.enterprise import ImportOut, RowErrorOut
from shared.models.invoice import InvoiceCreate, price_lines
from shared.outbox.records import DomainEvent, Record, Resource, domain_event, iso

# TransactWriteItems takes 100 operations: counter, batch, counts, errors, progress and its sequence counter,
# and 4 per invoice (invoice, audit, event, the event's sequence counter).
BATCH_INVOICES = 23
# A batch's invoices as one queue message's work and one table item (an item holds 400 KB at most).
BATCH_BYTES = 200_000
REFERENCE_LIFETIME = timedelta(days=30)


class InvoiceImports:
    def __init__(
        self,
        store: ImportStore,
        queue: ImportQueue,
        counter: Callable[[str], int | None],
        clock: Clock,
        *,
        max_attempts: int = 40,
        backoff: Callable[[int], None] = jittered_backoff,
    ) -> None:
        self._store = store
        self._queue = queue
        self._counter = counter
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff

    # -- accepting ------------------------------------------------------------------------------------
    def accept(self, principal: Principal, rows: list[Any], reference: str | None) -> ImportOut:
        require_role(principal, MERCHANT, ADMIN)
        groups = split_rows(rows)
        now = self._clock.now()
        import_id = new_id("imp")
        batches = _batches(import_id, groups)
        record = InvoiceImport(
            import_id=import_id,
            tenant_id=principal.tenant_id,
            actor=principal.sub,
            reference=reference,
            rows=len(rows),
            invoices=len(groups),
            batches=len(batches),
            batches_done=0,
            created=0,
            failed=0,
            created_at=now,
        )
        events: list[Record] = [self._event(record, "import.created", now)]
        try:
            self._store.accept(record, batches, now + REFERENCE_LIFETIME if reference else None, events)
        except ReferenceTaken as taken:
            return self._repeat(principal, taken.import_id)
        self._queue.enqueue(record.tenant_id, import_id, [batch.number for batch in batches])
        return _out(record, [])

    def _repeat(self, principal: Principal, import_id: str) -> ImportOut:
        record = self._store.get(import_id)
        if record is None or record.tenant_id != principal.tenant_id:
            raise ConcurrentUpdate("the import of this reference is still being recorded; retry")
        if record.batches_done < record.batches:
            self._queue.enqueue(record.tenant_id, import_id, self._store.open_batches(import_id))
        return _out(record, self._store.errors(import_id))

    def get(self, principal: Principal, import_id: str) -> ImportOut:
        require_role(principal, MERCHANT, ADMIN)
        record = self._store.get(import_id) if import_id.startswith("imp_") else None
        if record is None or record.tenant_id != principal.tenant_id:
            raise NotFound("import not found")
        return _out(record, self._store.errors(import_id))

    # -- the worker -----------------------------------------------------------------------------------
    def process(self, import_id: str, number: int) -> bool:
        """Create one batch's invoices (once); True if the batch is done now or was already."""
        found = self._store.batch(import_id, number)
        record = self._store.get(import_id)
        if found is None or record is None:
            return False
        batch, done = found
        for attempt in range(self._max_attempts):
            if done:
                break
            try:
                self._store_batch(record, batch)
                break
            except ConcurrentUpdate:
                again = self._store.batch(import_id, number)
                done = again is not None and again[1]
                if not done:
                    self._backoff(attempt)
        else:
            raise ConcurrentUpdate("the invoice counter stayed contended; the batch will be retried")
        self._complete_if_last(import_id)
        return True

    def _store_batch(self, record: InvoiceImport, batch: ImportBatch) -> None:
        """Check the batch's rows (their numbers are the import's), then store what passed with the rest."""
        numbered = [(int(row["row"]), row.get("data")) for group in batch.groups for row in group]
        parsed = check_rows(numbered)
        principal = Principal(record.actor, record.tenant_id, frozenset({MERCHANT}))
        previous = self._counter(record.tenant_id) if parsed.invoices else None
        first = (previous or 0) + 1
        now = self._clock.now()
        invoices = [
            draft_invoice(principal, item.request, _priced(item.request), new_id("inv"), first + n, now)
            for n, item in enumerate(parsed.invoices)
        ]
        records = [
            entry
            for invoice in invoices
            for entry in invoice_records(
                invoice,
                record.actor,
                "invoice.created",
                {"number": invoice.number, "import_id": record.import_id},
                now,
            )
        ]
        progress = {
            "batch": batch.number,
            "batches": record.batches,
            "created_in_batch": len(invoices),
            "failed_in_batch": parsed.failed,
        }
        records.append(self._event(record, "import.progress", now, progress))
        errors = [{"row": e.row, "field": e.field, "error": e.error} for e in parsed.errors]
        self._store.store_batch(
            record, batch, invoices, first + len(invoices) - 1, previous, records, errors, parsed.failed
        )

    def _complete_if_last(self, import_id: str) -> None:
        record = self._store.get(import_id)
        if record is None or record.batches_done < record.batches or record.completed_at is not None:
            return
        now = self._clock.now()
        self._store.complete(record, now, [self._event(record, "import.completed", now)])

    @staticmethod
    def _event(
        record: InvoiceImport, name: str, now: Any, extra: dict[str, Any] | None = None
    ) -> DomainEvent:
        data = {
            "tenant_id": record.tenant_id,
            "import_id": record.import_id,
            "rows": record.rows,
            "invoices": record.invoices,
            "failed": record.failed,
            **(extra or {}),
        }
        channels = [f"import:{record.import_id}", "admin"]
        return domain_event(name, channels, data, now, resource=Resource("import", record.import_id))


def _batches(import_id: str, groups: list[list[tuple[int, Any]]]) -> list[ImportBatch]:
    """Whole invoices' rows, at most BATCH_INVOICES invoices and about BATCH_BYTES a batch."""
    batches: list[ImportBatch] = []
    current: list[list[dict[str, Any]]] = []
    size = 0
    for group in groups:
        rows = [{"row": number, "data": raw} for number, raw in group]
        group_size = len(json.dumps(rows, default=str))
        if current and (len(current) == BATCH_INVOICES or size + group_size > BATCH_BYTES):
            batches.append(ImportBatch(import_id, len(batches) + 1, current))
            current, size = [], 0
        current.append(rows)
        size += group_size
    if current:
        batches.append(ImportBatch(import_id, len(batches) + 1, current))
    return batches


def _out(record: InvoiceImport, errors: list[dict[str, Any]]) -> ImportOut:
    return ImportOut(
        id=record.import_id,
        status=record.status,
        reference=record.reference,
        rows=record.rows,
        invoices=record.invoices,
        created=record.created,
        failed=record.failed,
        errors=[RowErrorOut(**error) for error in errors],
        created_at=iso(record.created_at),
        completed_at=iso(record.completed_at) if record.completed_at else None,
    )


def _priced(request: InvoiceCreate) -> Any:
    return price_lines(request.line_items, request.currency)
