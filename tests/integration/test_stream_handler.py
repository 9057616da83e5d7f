"""The stream function: real stream records of outbox items read back from moto, published to the bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from functions.stream import handler as stream
from shared import bootstrap
from shared.adapters.dynamodb_events import event_item
from shared.config import get_settings
from shared.outbox.records import Resource, domain_event
from tests.integration.test_realtime_table import TABLE_NAME, create_wallets_table

BUS = "wallets-bus"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class LambdaContext:
    function_name: str = "stream"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stream"
    aws_request_id: str = "req-1"


@dataclass
class World:
    table: Any
    queue_url: str


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    get_settings.cache_clear()
    bootstrap.reset()
    with mock_aws():
        table = create_wallets_table()
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": ["monay.wallets"]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
        yield World(table, queue_url)
    boto3.DEFAULT_SESSION = None
    get_settings.cache_clear()
    bootstrap.reset()


def stream_records(table: Any) -> list[dict[str, Any]]:
    """The INSERT records the table's stream holds for what is in the table, as Lambda delivers them.

    Built from the stored items (read back from moto) with boto3's serializer, because moto's
    dynamodbstreams endpoint does not answer this botocore version's DescribeStream.
    """
    serializer = TypeSerializer()
    arn = table.latest_stream_arn
    records = []
    for sequence, item in enumerate(table.scan()["Items"], start=1):
        image = {name: serializer.serialize(value) for name, value in item.items()}
        records.append(
            {
                "eventID": f"event-{sequence}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": arn,
                "dynamodb": {
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": image,
                    "SequenceNumber": f"{sequence * 100:021d}",
                    "SizeBytes": len(json.dumps(image)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return records


def outbox_inserts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stack's filter: INSERTs whose new image's pk starts with OUTBOX#."""
    return [
        r
        for r in records
        if r["eventName"] == "INSERT" and r["dynamodb"]["NewImage"]["pk"]["S"].startswith("OUTBOX#")
    ]


def bus_events(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def refuse_entries_of(event_ids: set[str]) -> None:
    """Make the bus refuse these events' entries, the way EventBridge refuses one entry of a call.

    The entry's Detail is made unreadable on its way out, so moto itself answers that entry with an
    ErrorCode (and does not deliver it) while accepting the rest of the call.
    """

    def corrupt(params: dict[str, Any], **_: Any) -> None:
        for entry in params.get("Entries", []):
            if json.loads(entry["Detail"])["event_id"] in event_ids:
                entry["Detail"] = "{not json"

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("provide-client-params.events.PutEvents", corrupt)


def write_outbox(table: Any, count: int) -> list[dict[str, Any]]:
    items = [
        {
            **event_item(
                domain_event(
                    "wallet:funded",
                    [f"wallet:wal_w{n}", "invoice:inv_i1"],
                    {
                        "tenant_id": "ten_a",
                        "wallet_id": f"wal_w{n}",
                        "balance": "10.50",
                        "attempt": Decimal(n),
                    },
                    NOW,
                    resource=Resource("wallet", f"wal_w{n}"),
                )
            ),
            "sequence": 1,
        }
        for n in range(count)
    ]
    for item in items:
        table.put_item(Item=item)
    return items


def test_outbox_items_reach_the_bus(world: World) -> None:
    items = write_outbox(world.table, 3)
    world.table.put_item(Item={"pk": "TENANT#ten_a", "sk": "INVOICE#inv_i1", "status": "sent"})
    records = stream_records(world.table)
    assert len(records) == 4

    response = stream.lambda_handler({"Records": outbox_inserts(records)}, LambdaContext())

    assert response == {"batchItemFailures": []}
    published = {e["detail"]["event_id"]: e for e in bus_events(world.queue_url)}
    assert set(published) == {item["event_id"] for item in items}
    first = published[items[0]["event_id"]]
    assert (first["source"], first["detail-type"]) == ("monay.wallets", "wallet:funded")
    assert first["detail"] == {
        "event": "wallet:funded",
        "channels": ["wallet:wal_w0", "invoice:inv_i1"],
        "data": {"tenant_id": "ten_a", "wallet_id": "wal_w0", "balance": "10.50", "attempt": 0},
        "ts": "2026-03-01T12:00:00.000Z",
        "event_id": items[0]["event_id"],
        "resource": {"type": "wallet", "id": "wal_w0"},
        "sequence": 1,
    }


def test_refused_entry_is_reported_and_only_it_is_retried(world: World) -> None:
    items = write_outbox(world.table, 12)
    records = outbox_inserts(stream_records(world.table))
    refused = items[4]["event_id"]
    refuse_entries_of({refused})

    response = stream.lambda_handler({"Records": records}, LambdaContext())

    refused_record = next(r for r in records if r["dynamodb"]["NewImage"]["event_id"]["S"] == refused)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": refused_record["dynamodb"]["SequenceNumber"]}]
    }
    first_pass = [e["detail"]["event_id"] for e in bus_events(world.queue_url) + bus_events(world.queue_url)]
    assert sorted(first_pass) == sorted(item["event_id"] for item in items if item["event_id"] != refused)

    boto3.setup_default_session()
    bootstrap.reset()
    retry = stream.lambda_handler({"Records": [refused_record]}, LambdaContext())

    assert retry == {"batchItemFailures": []}
    assert [e["detail"]["event_id"] for e in bus_events(world.queue_url)] == [refused]


def test_malformed_outbox_record_fails_alone(world: World) -> None:
    write_outbox(world.table, 1)
    world.table.put_item(Item={"pk": "OUTBOX#evt_broken", "sk": "EVENT", "channels": ["admin"]})
    records = outbox_inserts(stream_records(world.table))
    response = stream.lambda_handler({"Records": records}, LambdaContext())
    broken = next(r for r in records if r["dynamodb"]["NewImage"]["pk"]["S"] == "OUTBOX#evt_broken")
    assert response == {"batchItemFailures": [{"itemIdentifier": broken["dynamodb"]["SequenceNumber"]}]}
    assert len(bus_events(world.queue_url)) == 1
