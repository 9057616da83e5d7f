"""Sweeper function: every five minutes (an EventBridge rule), open claims past their deadline are finished
or reversed (shared/sweeper/service.py); the run reports how many were due and the oldest one's age."""

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
        raise ValueError("sweeper: unrecognised event shape")
    report = capabilities().sweeper.sweep()
    metrics.add_metric(name="StuckClaims", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(
        name="OldestStuckClaimAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_age_seconds
    )
    metrics.add_metric(name="StuckClaimsLeftOpen", unit=MetricUnit.Count, value=report.left_open)
    summary = {"due": report.due, "left_open": report.left_open, "outcomes": dict(report.outcomes)}
    logger.info("claims swept", extra=summary)
    return summary
