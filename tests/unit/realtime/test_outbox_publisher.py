"""Outbox items to bus events: stream record parsing, PutEvents chunking and per-record failure mapping."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import EndpointConnectionError

from shared.adapters.dynamodb_events import event_item
from shared.adapters.eventbus import MAX_REQUEST_BYTES, EventBridgeBus
from shared.adapters.eventbus_stream import OutboxBatchProcessor, stage_outbox_record
from shared.errors import ValidationFailed
from shared.outbox.publisher import BusEventDetail, bus_detail_from_outbox_item
from shared.outbox.records import Resource, domain_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_serializer = TypeSerializer()


def stream_record(item: dict[str, Any], sequence: int, event_name: str = "INSERT") -> dict[str, Any]:
    image = {name: _serializer.serialize(value) for name, value in item.items()}
    return {
        "eventID": f"id{sequence}",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": f"{sequence:021d}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def funded(n: int) -> dict[str, Any]:
    event = domain_event(
        "wallet:funded",
        [f"wallet:wal_w{n}", "invoice:inv_i1"],
        {"tenant_id": "ten_a", "amount": "10.50", "count": Decimal(3), "rate": Decimal("0.125")},
        NOW,
        resource=Resource("wallet", f"wal_w{n}"),
    )
    return {**event_item(event), "sequence": Decimal(n + 1)}


class FakeBus:
    def __init__(self, refuse: set[int] | None = None) -> None:
        self.refuse = refuse or set()
        self.calls: list[list[BusEventDetail]] = []

    def publish(self, details: Sequence[BusEventDetail]) -> list[str | None]:
        self.calls.append(list(details))
        return ["ThrottlingException" if i in self.refuse else None for i in range(len(details))]


def test_outbox_item_becomes_the_bus_detail() -> None:
    item = funded(1)
    detail = stage_outbox_record(_as_record(stream_record(item, 1)))
    assert detail is not None
    assert detail.model_dump(mode="json") == {
        "event": "wallet:funded",
        "channels": ["wallet:wal_w1", "invoice:inv_i1"],
        "data": {"tenant_id": "ten_a", "amount": "10.50", "count": 3, "rate": "0.125"},
        "ts": "2026-03-01T12:00:00.000Z",
        "event_id": item["event_id"],
        "resource": {"type": "wallet", "id": "wal_w1"},
        "sequence": 2,
    }


def _as_record(raw: dict[str, Any]) -> DynamoDBRecord:
    return DynamoDBRecord(raw)


def test_non_outbox_records_are_not_published() -> None:
    item = {"pk": "TENANT#ten_a", "sk": "INVOICE#inv_1", "status": "sent"}
    assert stage_outbox_record(_as_record(stream_record(item, 1))) is None
    assert stage_outbox_record(_as_record(stream_record(funded(1), 2, event_name="MODIFY"))) is None


def test_malformed_outbox_item_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        bus_detail_from_outbox_item({"pk": "OUTBOX#evt_1", "event_name": "x"})


def test_batch_publishes_once_and_reports_only_refused_records() -> None:
    bus = FakeBus(refuse={1})
    records = [stream_record(funded(n), n + 1) for n in range(3)]
    records.append(stream_record({"pk": "OUTBOX#evt_bad", "sk": "EVENT"}, 4))
    response = process_partial_response(
        event={"Records": records}, record_handler=stage_outbox_record, processor=OutboxBatchProcessor(bus)
    )
    assert len(bus.calls) == 1 and len(bus.calls[0]) == 3
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == [
        f"{2:021d}",
        f"{4:021d}",
    ]


def test_batch_all_accepted_reports_nothing() -> None:
    bus = FakeBus()
    records = [stream_record(funded(n), n + 1) for n in range(2)]
    response = process_partial_response(
        event={"Records": records}, record_handler=stage_outbox_record, processor=OutboxBatchProcessor(bus)
    )
    assert response == {"batchItemFailures": []}
    assert [d.channels[0] for d in bus.calls[0]] == ["wallet:wal_w0", "wallet:wal_w1"]


class FakeEventsClient:
    def __init__(self, fail_event_ids: set[str] | None = None, raise_on_call: int | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_event_ids = fail_event_ids or set()
        self.raise_on_call = raise_on_call

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.raise_on_call == len(self.calls):
            raise EndpointConnectionError(endpoint_url="https://events")
        results = []
        for entry in Entries:
            if json.loads(entry["Detail"])["event_id"] in self.fail_event_ids:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "boom"})
            else:
                results.append({"EventId": "e"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}


def details(count: int, pad: int = 0) -> list[BusEventDetail]:
    return [
        BusEventDetail(event="e", channels=("admin",), data={"pad": "x" * pad}, ts="t", event_id=f"evt_{n}")
        for n in range(count)
    ]


def test_eventbridge_bus_chunks_by_ten_and_maps_failed_entries() -> None:
    client = FakeEventsClient(fail_event_ids={"evt_3", "evt_14"})
    errors = EventBridgeBus(client, "bus").publish(details(23))
    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert {i for i, e in enumerate(errors) if e} == {3, 14}
    entry = client.calls[0][0]
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == ("monay.wallets", "e", "bus")
    assert json.loads(entry["Detail"])["event_id"] == "evt_0"


def test_eventbridge_bus_chunks_by_request_size() -> None:
    client = FakeEventsClient()
    errors = EventBridgeBus(client, "bus").publish(details(4, pad=100_000))
    assert errors == [None] * 4
    assert [len(call) for call in client.calls] == [2, 2]
    assert all(sum(len(e["Detail"]) for e in call) <= MAX_REQUEST_BYTES for call in client.calls)


def test_eventbridge_bus_failed_call_fails_only_its_chunk() -> None:
    client = FakeEventsClient(raise_on_call=2)
    errors = EventBridgeBus(client, "bus").publish(details(12))
    assert errors[:10] == [None] * 10
    assert errors[10:] == ["EndpointConnectionError"] * 2


def test_oversized_entry_fails_alone() -> None:
    client = FakeEventsClient()
    batch = details(1) + details(1, pad=MAX_REQUEST_BYTES)
    errors = EventBridgeBus(client, "bus").publish(batch)
    assert errors == [None, "EntryTooLarge"]
    assert [len(call) for call in client.calls] == [1]
