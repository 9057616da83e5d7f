"""Stream function: outbox INSERTs from the table's stream, put on the event bus in batches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.eventbus_stream import stage_outbox_record
from shared.bootstrap import app as capabilities

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = capabilities().outbox
    response = process_partial_response(
        event=event, record_handler=stage_outbox_record, processor=processor, context=context
    )
    published = len(processor.success_messages)
    metrics.add_metric(name="OutboxEventsPublished", unit=MetricUnit.Count, value=published)
    metrics.add_metric(name="OutboxEventsFailed", unit=MetricUnit.Count, value=len(processor.fail_messages))
    return response
