"""Overdue invoices: a sent or partially paid invoice whose due date has ended (UTC) becomes `overdue`.

Run on a schedule over the due-date index (InvoiceDueIndex), not a scan of every invoice. Idempotent: the
change is conditional on the status read and removes the invoice's marker in the same transaction, so a
second run finds nothing; a lost race re-reads. Settled invoices (paid, void, deleted) drop their marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.clock import Clock
from shared.errors import ConcurrentUpdate, WalletsError
from shared.invoices.ports import DueMarker, InvoiceDueIndex, InvoiceRepository
from shared.invoices.service import invoice_records
from shared.models.invoice import InvoiceStatus

ACTOR = "invoice-schedules"
OPEN = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID})
BATCH = 1_000
# A run's bound (the schedule's next run takes the rest): 20,000 invoices fit one invocation.
MAX_ROUNDS = 20


@dataclass
class OverdueReport:
    marked: list[str] = field(default_factory=list)
    settled: int = 0
    failed: int = 0


class OverdueInvoices:
    def __init__(self, index: InvoiceDueIndex, repository: InvoiceRepository, clock: Clock) -> None:
        self._index = index
        self._repository = repository
        self._clock = clock

    def run(self) -> OverdueReport:
        report = OverdueReport()
        today = self._clock.now().date()
        for _ in range(MAX_ROUNDS):
            markers = self._index.ended_before(today, BATCH)
            for marker in markers:
                try:
                    self._mark_one(marker, report)
                except WalletsError:
                    # One invoice the table would not take now waits for the next run; the rest go on.
                    report.failed += 1
            if len(markers) < BATCH:
                break
        return report

    def _mark_one(self, marker: DueMarker, report: OverdueReport) -> None:
        for _ in range(3):
            invoice = self._repository.get(marker.tenant_id, marker.invoice_id)
            if invoice is None or invoice.deleted_at is not None or invoice.status not in OPEN:
                # Settled (paid, void, deleted) or already overdue: nothing is owed past its date here.
                self._index.forget(marker)
                report.settled += 1
                return
            now = self._clock.now()
            overdue = invoice.model_copy(update={"status": InvoiceStatus.OVERDUE, "updated_at": now})
            changes = {
                "status": {"from": invoice.status.value, "to": InvoiceStatus.OVERDUE.value},
                "due_date": invoice.due_date.isoformat(),
            }
            records = invoice_records(overdue, ACTOR, "invoice.overdue", changes, now)
            try:
                self._repository.change_status(overdue, invoice.status, records, due_marker=marker)
            except ConcurrentUpdate:
                continue
            report.marked.append(invoice.id)
            return
        report.failed += 1
