"""Invoice import worker: one SQS message per batch of an accepted import (shared/enterprise/imports.py);
each batch's invoices are created once, and a failed message is retried alone (partial batch response)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.bootstrap import app as capabilities

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process_batch_message(record: SQSRecord) -> None:
    message = json.loads(record.body)
    import_id, number = str(message["import_id"]), int(message["batch"])
    if not capabilities().invoice_imports.process(import_id, number):
        # A message naming no stored batch (the import expired or never committed) has nothing to do.
        logger.warning("import batch not found", extra={"import_id": import_id, "batch": number})


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    response = process_partial_response(
        event=event, record_handler=process_batch_message, processor=processor, context=context
    )
    metrics.add_metric(name="ImportBatchesDone", unit=MetricUnit.Count, value=len(processor.success_messages))
    metrics.add_metric(name="ImportBatchesFailed", unit=MetricUnit.Count, value=len(processor.fail_messages))
    return response
