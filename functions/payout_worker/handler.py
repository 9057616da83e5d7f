"""Payout worker: runs an approved payout's items in the background. Invoked by the bus rule on
`payout.approved`, `payout.retrying` and `payout.continued` (the outbox stream's events), or by a scheduled
payout's Scheduler `at()` with `{"payout_id": ...}`. A run is safe twice at once and after a crash."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.bootstrap import app as capabilities

logger = Logger()
metrics = Metrics()
# Stop taking chunks with this much of the invocation left; the run goes on in the next one.
RESERVE_MS = 20_000


def payout_of(event: dict[str, Any]) -> str | None:
    detail = event.get("detail")
    found = (
        (detail.get("data") or {}).get("payout_id") if isinstance(detail, dict) else event.get("payout_id")
    )
    return found if isinstance(found, str) and found.startswith("po_") else None


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payout_id = payout_of(event)
    if payout_id is None:
        logger.warning("no payout named", extra={"event_keys": sorted(event)})
        return {"status": "ignored"}
    payout = capabilities().payouts.process(
        payout_id, lambda: context.get_remaining_time_in_millis() < RESERVE_MS
    )
    status = payout.status.value if payout else "not_found"
    metrics.add_metric(name="PayoutRuns", unit=MetricUnit.Count, value=1)
    return {"payout_id": payout_id, "status": status}
