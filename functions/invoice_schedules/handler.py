"""Invoice schedules function: every five minutes (an EventBridge rule), recurring series make their next
invoice at each period's start (shared/invoices/recurring.py), and sent invoices whose due date has ended
(UTC) become `overdue` with `invoice.overdue` (shared/invoices/overdue.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.bootstrap import app as capabilities

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("detail-type") != "Scheduled Event" or event.get("source") != "aws.events":
        raise ValueError("invoice_schedules: unrecognised event shape")
    recurring = capabilities().recurring_invoices.run()
    metrics.add_metric(name="RecurringInvoicesMade", unit=MetricUnit.Count, value=len(recurring.made))
    metrics.add_metric(
        name="RecurringInvoicesAutoPaid", unit=MetricUnit.Count, value=len(recurring.auto_paid)
    )
    report = capabilities().overdue_invoices.run()
    metrics.add_metric(name="InvoicesMarkedOverdue", unit=MetricUnit.Count, value=len(report.marked))
    metrics.add_metric(name="OverdueMarkingsDeferred", unit=MetricUnit.Count, value=report.failed)
    summary = {
        "overdue": len(report.marked),
        "settled": report.settled,
        "deferred": report.failed + recurring.failed,
        "recurring_made": len(recurring.made),
        "recurring_auto_paid": len(recurring.auto_paid),
    }
    logger.info("invoice schedules ran", extra=summary)
    return summary
