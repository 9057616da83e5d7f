"""The runtime's event sources end to end: TTL REMOVE to a filtered stream consumer, at() schedules, rules."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningRuntime, start_runtime, wait_for

pytestmark = pytest.mark.e2e

SPEED = 60.0


@pytest.fixture(scope="module")
def runtime(
    fixture_template: Path, fixture_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRuntime]:
    with start_runtime(
        fixture_template, fixture_config, tmp_path_factory.mktemp("events"), speed=SPEED
    ) as running:
        yield running


def virtual_now(runtime: RunningRuntime) -> float:
    origin = float(runtime.state["clock_origin"])
    return origin + (time.time() - origin) * float(runtime.state["speed"])


def real_instant(runtime: RunningRuntime, virtual: float) -> float:
    origin = float(runtime.state["clock_origin"])
    return origin + (virtual - origin) / float(runtime.state["speed"])


def table_name(runtime: RunningRuntime) -> str:
    return str(runtime.aws("dynamodb").list_tables()["TableNames"][0])


def recorded_events(runtime: RunningRuntime) -> list[dict[str, Any]]:
    items = (
        runtime.aws("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=table_name(runtime),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "RECORD#event"}},
        )
    )
    return [json.loads(item["body"]["S"]) for page in items for item in page["Items"]]


def stream_records(runtime: RunningRuntime) -> list[dict[str, Any]]:
    return [r for event in recorded_events(runtime) for r in event.get("Records", [])]


def test_ttl_remove_reaches_the_filtered_consumer_with_user_identity(runtime: RunningRuntime) -> None:
    dynamodb = runtime.aws("dynamodb")
    table = table_name(runtime)
    lease, other = f"LEASE#{uuid.uuid4().hex}", f"USER#{uuid.uuid4().hex}"
    expires = int(virtual_now(runtime)) + 60
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": lease}, "sk": {"S": "LEASE"}, "ttl": {"N": str(expires)}}
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": other}, "sk": {"S": "X"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": other}, "sk": {"S": "X"}})

    def lease_remove() -> dict[str, Any] | None:
        found = [r for r in stream_records(runtime) if r["dynamodb"]["Keys"]["pk"]["S"] == lease]
        return found[0] if found else None

    record = wait_for(lease_remove, timeout=15)
    delay = time.time() - real_instant(runtime, expires)
    assert record["eventName"] == "REMOVE"
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert record["dynamodb"]["OldImage"]["ttl"] == {"N": str(expires)}
    assert record["eventSource"] == "aws:dynamodb"
    # Never before the TTL instant; the bound is loose because the first call may start a cold worker.
    assert 0 < delay < 10.0, f"the REMOVE arrived {delay:.2f} real seconds after the TTL instant"
    print(f"TTL instant -> REMOVE recorded: {delay:.2f} s real at speed {SPEED}")
    # The user's delete is a REMOVE without userIdentity: the mapping's filter keeps it away.
    assert all(r["dynamodb"]["Keys"]["pk"]["S"] != other for r in stream_records(runtime))
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": lease}, "sk": {"S": "LEASE"}})


def test_at_schedule_fires_its_target_once_and_is_deleted(runtime: RunningRuntime) -> None:
    env = httpx.get(f"{runtime.rest_url}/health", timeout=15).json()["env"]
    scheduler = runtime.aws("scheduler")
    probe = uuid.uuid4().hex
    at = int(virtual_now(runtime)) + 60
    scheduler.create_schedule(
        Name=f"probe-{probe}",
        GroupName="fixture-group",
        ScheduleExpression=f"at({datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": env["RECORDER_ARN"],
            "RoleArn": "arn:aws:iam::123456789012:role/fixture-scheduler",
            "Input": json.dumps({"probe": probe}),
        },
        ActionAfterCompletion="DELETE",
    )
    wait_for(lambda: any(e.get("probe") == probe for e in recorded_events(runtime)), timeout=15)
    delay = time.time() - real_instant(runtime, at)
    assert 0 < delay < 10.0, f"the target ran {delay:.2f} real seconds after the at() instant"
    print(f"at() instant -> target recorded: {delay:.2f} s real at speed {SPEED}")
    wait_for(lambda: not scheduler.list_schedules(GroupName="fixture-group")["Schedules"], timeout=10)
    assert [e for e in recorded_events(runtime) if e.get("probe") == probe] == [{"probe": probe}]


def test_rate_rule_and_bus_rule_reach_the_recorder(runtime: RunningRuntime) -> None:
    def scheduled() -> list[dict[str, Any]]:
        return [e for e in recorded_events(runtime) if e.get("detail-type") == "Scheduled Event"]

    ticks = wait_for(lambda: len(scheduled()) >= 2 and scheduled(), timeout=15)
    assert ticks[0]["source"] == "aws.events"
    assert ticks[0]["resources"][0].startswith("arn:aws:events:us-east-1:")
    marker = uuid.uuid4().hex
    runtime.aws("events").put_events(
        Entries=[
            {
                "Source": "fixture.other",
                "DetailType": "ignored",
                "Detail": "{}",
                "EventBusName": "fixture-bus",
            },
            {
                "Source": "fixture.source",
                "DetailType": "probe",
                "Detail": json.dumps({"marker": marker}),
                "EventBusName": "fixture-bus",
            },
        ]
    )

    def bus_events() -> list[dict[str, Any]]:
        return [e for e in recorded_events(runtime) if e.get("source", "").startswith("fixture.")]

    seen = wait_for(lambda: bus_events(), timeout=15)
    assert [e["detail"] for e in seen] == [{"marker": marker}]
    assert seen[0]["detail-type"] == "probe"
