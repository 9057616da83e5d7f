"""Stream function: outbox INSERTs from the table's stream, put on the event bus in batches."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from shared.adapters.eventbus import EventBridgeBus
from shared.adapters.eventbus_stream import OutboxBatchProcessor, stage_outbox_record
from shared.config import get_settings

logger = Logger()
metrics = Metrics()

_EVENTS_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


@lru_cache(maxsize=1)
def outbox_processor() -> OutboxBatchProcessor:
    settings = get_settings()
    client = boto3.client("events", region_name=settings.aws_region, config=_EVENTS_CONFIG)
    return OutboxBatchProcessor(EventBridgeBus(client, settings.event_bus_name))


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    processor = outbox_processor()
    response = process_partial_response(
        event=event, record_handler=stage_outbox_record, processor=processor, context=context
    )
    published = len(processor.success_messages)
    metrics.add_metric(name="OutboxEventsPublished", unit=MetricUnit.Count, value=published)
    metrics.add_metric(name="OutboxEventsFailed", unit=MetricUnit.Count, value=len(processor.fail_messages))
    return response
