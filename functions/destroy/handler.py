"""Destroy function: the Scheduler `at()` schedule at a wallet's `expires_at`, and the TTL REMOVE of its
lease on the table's stream. Both run the one destruction service (shared/destruction/service.py), which
finds the wallet already destroyed when the other trigger (or the payment) got there first.

A failure is never swallowed: a stream record is reported as a batch item failure (retried, then sent to
the mapping's on-failure queue) and a schedule invocation raises (Scheduler retries, then dead-letters).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.bootstrap import app as capabilities
from shared.destruction.triggers import Trigger
from shared.ids import is_wallet_id

logger = Logger()
metrics = Metrics()
# Every record failing is still a partial-failure answer (retried per record), not an invocation error.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)

TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def is_ttl_removal(record: DynamoDBRecord) -> bool:
    """Deleted by DynamoDB's TTL process, not by a user or our own code (the mapping filters on it too)."""
    identity = record.raw_event.get("userIdentity") or {}
    return (
        record.raw_event.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def lease_wallet_id(record: DynamoDBRecord) -> str | None:
    image = record.dynamodb.old_image if record.dynamodb else None
    wallet_id = (image or {}).get("wallet_id")
    if isinstance(wallet_id, str) and is_wallet_id(wallet_id):
        return wallet_id
    return None


def record_handler(record: DynamoDBRecord) -> None:
    if not is_ttl_removal(record):
        # A lease deleted by a transform or by destruction itself: nothing to do.
        logger.info("ignored a lease removal that was not TTL's", extra={"event_id": record.event_id})
        return
    wallet_id = lease_wallet_id(record)
    if wallet_id is None:
        logger.error("a TTL-removed lease without a wallet id", extra={"event_id": record.event_id})
        return
    outcome = capabilities().settlement.destruction.destroy(wallet_id, Trigger.TTL.value)
    logger.info("ttl trigger", extra={"wallet_id": wallet_id, "result": outcome.result})


def schedule_trigger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    wallet_id = event.get("wallet_id")
    if not isinstance(wallet_id, str) or not is_wallet_id(wallet_id) or event.get("trigger") != "schedule":
        # A malformed schedule can never succeed: log it and let it complete rather than retry forever.
        logger.error("malformed destruction schedule input", extra={"input": event})
        return {"result": "ignored"}
    outcome = capabilities().settlement.destruction.destroy(wallet_id, Trigger.SCHEDULE.value)
    logger.info("schedule trigger", extra={"wallet_id": wallet_id, "result": outcome.result})
    return {"wallet_id": wallet_id, "result": outcome.result}


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    capabilities().adapters.schedules_invoke(getattr(context, "invoked_function_arn", "") or "")
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return schedule_trigger(event, context)
