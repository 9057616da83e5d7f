"""Recurring invoices: at each period's start the series' next invoice is made and sent to the customer.

Run on the invoice schedule over the recurring index (one marker per series, by when its next invoice is
due), never a scan. The next invoice repeats the latest one's lines with its due date a period later; it is
numbered from the tenant's counter and stored with the marker's move in one transaction, so a second run
(or a racing one) makes nothing twice. A series with `end_after` stops after that many invoices. A customer
who is a consumer with `auto_pay` on has the new invoice paid from their wallet right away (when it holds
enough and their limit allows; otherwise it is sent as usual); the payment's id follows from the invoice, so
it never moves twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from aws_lambda_powertools import Logger

from shared.clock import Clock
from shared.errors import ConcurrentUpdate, WalletsError
from shared.ids import new_id
from shared.invoices.periods import next_period
from shared.invoices.ports import InvoiceAutoPay, InvoiceRepository, RecurringIndex, RecurringMarker
from shared.invoices.service import format_number, invoice_records, jittered_backoff
from shared.models.invoice import Invoice, InvoiceStatus

logger = Logger(child=True)

ACTOR = "invoice-schedules"
BATCH = 500
MAX_ATTEMPTS = 20


@dataclass
class RecurringReport:
    made: list[str] = field(default_factory=list)
    auto_paid: list[str] = field(default_factory=list)
    ended: int = 0
    failed: int = 0


class RecurringInvoices:
    def __init__(
        self,
        index: RecurringIndex,
        repository: InvoiceRepository,
        clock: Clock,
        auto_pay: InvoiceAutoPay | None = None,
    ) -> None:
        self._auto_pay = auto_pay
        self._index = index
        self._repository = repository
        self._clock = clock

    def run(self) -> RecurringReport:
        report = RecurringReport()
        for marker in self._index.due(self._clock.now(), BATCH):
            try:
                self._next_of(marker, report)
            except WalletsError:
                report.failed += 1
        return report

    def _next_of(self, marker: RecurringMarker, report: RecurringReport) -> None:
        latest = self._repository.get(marker.tenant_id, marker.invoice_id)
        if latest is None or latest.schedule is None:
            report.ended += 1
            return
        schedule = latest.schedule
        made = marker.made + 1
        ended = schedule.end_after is not None and made >= schedule.end_after
        invoice_id = new_id("inv")
        for attempt in range(MAX_ATTEMPTS):
            previous = self._repository.current_number(marker.tenant_id)
            now = self._clock.now()
            invoice = latest.model_copy(
                update={
                    "id": invoice_id,
                    "number": format_number((previous or 0) + 1),
                    "status": InvoiceStatus.SENT,
                    "amount_paid": Decimal(0),
                    "due_date": next_period(latest.due_date, schedule),
                    "created_by": ACTOR,
                    "created_at": now,
                    "updated_at": now,
                    "sent_at": now,
                    "voided_at": None,
                    "deleted_at": None,
                    "metadata": {**latest.metadata, "recurring_from": latest.id},
                }
            )
            changes = {"number": invoice.number, "recurring_from": latest.id, "sequence_in_series": made}
            records = invoice_records(invoice, ACTOR, "invoice.created", changes, now)
            records += invoice_records(invoice, ACTOR, "invoice.sent", {"status": {"to": "sent"}}, now)
            following = None if ended else next_period(marker.next_at, schedule)
            try:
                self._index.issue(marker, invoice, previous, records, following)
            except ConcurrentUpdate:
                if not self._index.exists(marker):
                    return
                jittered_backoff(attempt)
                continue
            report.made.append(invoice.id)
            self._pay_if_asked(invoice, report)
            return
        report.failed += 1

    def _pay_if_asked(self, invoice: Invoice, report: RecurringReport) -> None:
        if self._auto_pay is None:
            return
        try:
            paid = self._auto_pay.pay_from_balance(invoice)
        except WalletsError:
            # Made and sent: the customer pays it as any other invoice.
            logger.exception("auto-pay of a recurring invoice failed", extra={"invoice_id": invoice.id})
            return
        if paid:
            report.auto_paid.append(invoice.id)
