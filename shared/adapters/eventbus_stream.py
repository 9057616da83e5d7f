"""Table stream to bus: outbox records deserialized, published in batches, refused ones reported."""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.outbox.publisher import BusEventDetail, EventBus, bus_detail_from_outbox_item


@lru_cache(maxsize=1)
def _deserializer() -> Any:
    # boto3 on the first record, not at import: importing it is most of the stream function's cold start.
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


class EventNotPublished(Exception):
    """The bus refused an event; its stream record is reported so that only it is retried."""


def json_value(value: Any) -> Any:
    """A deserialized attribute as JSON: integral numbers stay numbers, others become decimal strings.

    A float never appears: amounts are written as strings, and a fractional number read back is kept
    exact as text rather than rounded through binary floating point.
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    from boto3.dynamodb.types import Binary

    if isinstance(value, Binary):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(json_value(v) for v in value)
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def new_image(record: DynamoDBRecord) -> dict[str, Any]:
    image = record.raw_event.get("dynamodb", {}).get("NewImage") or {}
    return {name: json_value(_deserializer().deserialize(value)) for name, value in image.items()}


def stage_outbox_record(record: DynamoDBRecord) -> BusEventDetail | None:
    """The bus event of one stream record; None for a record that is not an outbox INSERT."""
    image = new_image(record)
    if record.raw_event.get("eventName") != "INSERT" or not str(image.get("pk", "")).startswith("OUTBOX#"):
        return None
    return bus_detail_from_outbox_item(image)


class OutboxBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, publishing the whole batch in PutEvents calls of up to ten entries.

    BatchProcessor calls the record handler once per record, which would mean one PutEvents per record.
    So the record handler only stages (parses) each record; `process` then publishes the staged events
    together and turns every entry the bus refused back into a failure of its own record, so that
    Powertools reports exactly those in `batchItemFailures` and the stream retries from them.
    """

    def __init__(self, bus: EventBus) -> None:
        super().__init__(event_type=EventType.DynamoDBStreams)
        self._bus = bus

    def process(self) -> list[tuple[Any, ...]]:
        results: list[tuple[Any, ...]] = list(super().process())
        staged = [
            index
            for index, (status, detail, _) in enumerate(results)
            if status == "success" and isinstance(detail, BusEventDetail)
        ]
        if not staged:
            return results
        errors = self._bus.publish([results[index][1] for index in staged])
        for index, error in zip(staged, errors, strict=True):
            if error is None:
                continue
            raw = results[index][2]
            self.success_messages = [message for message in self.success_messages if message is not raw]
            try:
                raise EventNotPublished(f"event {results[index][1].event_id} refused by the bus: {error}")
            except EventNotPublished:
                results[index] = self.failure_handler(record=DynamoDBRecord(raw), exception=sys.exc_info())
        return results
