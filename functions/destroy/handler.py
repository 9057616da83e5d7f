"""Wallet destruction, triggered by its Scheduler schedule or a lease's TTL REMOVE on the table stream.

Wallets arrive with their issue; until then every trigger fails loudly: a stream record is reported as a
batch item failure (so it reaches the mapping's on-failure destination instead of vanishing) and a
schedule invocation raises (so Scheduler retries it and then dead-letters it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

logger = Logger()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class DestructionUnavailable(RuntimeError):
    """This deployment cannot destroy wallets yet; the trigger must not be acknowledged."""


def lease_id(record: DynamoDBRecord) -> str:
    keys = record.dynamodb.keys if record.dynamodb else None
    return str((keys or {}).get("pk", "unknown"))


def record_handler(record: DynamoDBRecord) -> None:
    lease = lease_id(record)
    logger.error("lease expired but destruction is not available", extra={"lease": lease})
    raise DestructionUnavailable(f"cannot destroy the wallet of {lease} yet")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    logger.error("destruction schedule fired but destruction is not available", extra={"event": event})
    raise DestructionUnavailable("cannot destroy wallets yet")
