"""TTL sweeps marked on the stream, Scheduler at() schedules, schedule and bus rules, on virtual time."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.runtime.context import RuntimeContext
from local.runtime.events import EventSources

from .fakes import (
    ACCOUNT,
    REGION,
    REMOVES_ONLY,
    SteppedClock,
    add_consumer_mapping,
    create_table,
    launch,
    parts,
    unique,
    wait_for,
)

SPEED = 600.0


def test_ttl_removal_is_marked_and_a_user_delete_is_not(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    table = create_table(ctx, ttl=True)
    add_consumer_mapping(template, table, **REMOVES_ONLY)
    sources = launch(ctx, running)
    dynamodb = ctx.aws("dynamodb")
    expires = int(ctx.clock.now()) + 60
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "lease"}, "ttl": {"N": str(expires)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "user"}, "ttl": {"N": str(expires + 10**6)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "ancient"}, "ttl": {"N": "1000"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "user"}})

    def removes() -> dict[str, dict[str, Any]]:
        records = [r for c in functions.of("Consumer") for r in c["Records"]]
        return {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in records}

    # How soon after its instant is test_timing_at_speed's question (on a clock held still); here: which.
    seen = wait_for(lambda: len(removes()) == 2 and removes())
    assert seen["lease"]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert seen["lease"]["dynamodb"]["OldImage"]["ttl"] == {"N": str(expires)}
    assert "userIdentity" not in seen["user"]
    # More than five years in the past: the service never expires it, and neither do we.
    assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": "ancient"}})
    status = sources.status()
    assert status["ttl"]["expired"] >= 1
    assert status["streams"]["Mapping"]["delivered"] == 2


def test_at_schedule_fires_once_then_is_deleted(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    template.add("Target", "AWS::Lambda::Function", {})
    sources = launch(ctx, running)
    scheduler = ctx.aws("scheduler")
    group = unique("group")
    scheduler.create_schedule_group(Name=group)
    at = int(ctx.clock.now()) + 60
    name = unique("destroy")
    scheduler.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression=f"at({datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Target",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            "Input": json.dumps({"wallet_id": "wal_1"}),
        },
        ActionAfterCompletion="DELETE",
    )
    wait_for(lambda: functions.of("Target"))
    fired_at = ctx.clock.now()
    assert fired_at >= at  # on its second: test_timing_at_speed, on a clock held still
    assert functions.of("Target") == [{"wallet_id": "wal_1"}]
    wait_for(lambda: scheduler.list_schedules(GroupName=group)["Schedules"] == [])
    assert sources.status()["scheduler"]["deleted"] >= 1
    kept = unique("kept")
    scheduler.create_schedule(
        Name=kept,
        GroupName=group,
        ScheduleExpression=f"at({datetime.fromtimestamp(int(ctx.clock.now()), UTC):%Y-%m-%dT%H:%M:%S})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Target",
            "RoleArn": "arn:aws:iam::1:role/r",
        },
    )
    wait_for(lambda: len(functions.of("Target")) == 2)
    before = sources.status()["scheduler"]["fired"]
    polls = sources.status()["scheduler"]["polls"]
    # A kept at() schedule stays listed; several more polls must not fire it again. Idle, the poller waits
    # for a schedule change (or its fallback): each pulse here stands for one.
    wait_for(lambda: ctx.wakeups.scheduler.pulse() or sources.status()["scheduler"]["polls"] >= polls + 5)
    assert functions.of("Target")[1] == {}
    assert len(functions.of("Target")) == 2
    assert sources.status()["scheduler"]["fired"] == before
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]] == [kept]


def test_rate_rule_fires_on_virtual_time(make_ctx: Callable[..., RuntimeContext], running: list) -> None:
    # Virtual time held still and moved by the test: a rule's period is a virtual minute however long the
    # machine takes to start the sources (one real second of start-up is ten virtual minutes here).
    clock = SteppedClock(SPEED)
    clock.set(float(int(clock.now())))
    ctx = make_ctx(clock=clock)
    template, functions = parts(ctx)
    template.add("Ticker", "AWS::Lambda::Function", {})
    template.add(
        "EveryMinute",
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "Targets": [{"Arn": template.arn("Ticker"), "Id": "t"}],
        },
    )
    started = ctx.clock.now()
    launch(ctx, running)

    def fire_times() -> list[float]:
        return sorted(
            datetime.fromisoformat(e["time"][:-1] + "+00:00").timestamp() for e in functions.of("Ticker")
        )

    clock.set(started + 59)
    for minute in (1, 2, 3):
        clock.set(started + 60 * minute)
        wait_for(lambda n=minute: len(fire_times()) >= n, timeout=30)
    # One period after the rule starts, then every period, each firing stamped with its own minute.
    assert fire_times() == [started + 60, started + 120, started + 180]
    events = functions.of("Ticker")
    first = events[0]
    assert first["detail-type"] == "Scheduled Event"
    assert first["source"] == "aws.events"
    assert first["resources"] == [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/EveryMinute"]
    assert first["detail"] == {}
    assert first["account"] == ACCOUNT


def test_pattern_rule_delivers_matching_bus_events(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=1.0)
    template, functions = parts(ctx)
    bus = unique("bus")
    ctx.aws("events").create_event_bus(Name=bus)
    template.add("Listener", "AWS::Lambda::Function", {})
    template.add(
        "BusRule" + bus.replace("-", ""),
        "AWS::Events::Rule",
        {
            "EventBusName": bus,
            "EventPattern": {"source": ["monay.wallets"]},
            "State": "ENABLED",
            "Targets": [
                {"Arn": template.arn("Listener"), "Id": "whole"},
                {"Arn": template.arn("Listener"), "Id": "detail", "InputPath": "$.detail"},
            ],
        },
    )
    launch(ctx, running)
    ctx.aws("events").put_events(
        Entries=[
            {"Source": "other", "DetailType": "x", "Detail": "{}", "EventBusName": bus},
            {
                "Source": "monay.wallets",
                "DetailType": "wallet.created",
                "Detail": '{"id": 1}',
                "EventBusName": bus,
            },
        ]
    )
    calls = wait_for(lambda: len(functions.of("Listener")) == 2 and functions.of("Listener"))
    whole = next(c for c in calls if "detail-type" in c)
    assert whole["source"] == "monay.wallets"
    assert whole["detail"] == {"id": 1}
    assert whole["account"] == ACCOUNT
    assert {"id": 1} in calls


def test_unreachable_schedule_target_goes_to_its_dead_letter_queue(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=SPEED)
    sources = launch(ctx, running)
    sqs = ctx.aws("sqs")
    queue = sqs.create_queue(QueueName=unique("scheduler-dlq"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    name = unique("orphan")
    ctx.aws("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=f"at({datetime.fromtimestamp(int(ctx.clock.now()), UTC):%Y-%m-%dT%H:%M:%S})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:NotInTheTemplate",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            "Input": '{"n": 1}',
            "DeadLetterConfig": {"Arn": queue_arn},
        },
        ActionAfterCompletion="DELETE",
    )
    messages = wait_for(
        lambda: sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"]).get("Messages")
    )
    assert json.loads(messages[0]["Body"]) == {"n": 1}
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert attributes["SCHEDULE_ARN"].endswith(f"schedule/default/{name}")
    # Counted just after the message is sent.
    wait_for(lambda: sources.status()["scheduler"]["dead_lettered"] == 1)


def test_stop_is_prompt(make_ctx: Callable[..., RuntimeContext]) -> None:
    ctx = make_ctx(speed=SPEED)
    template, _ = parts(ctx)
    table = create_table(ctx, ttl=True)
    add_consumer_mapping(template, table)
    sources = EventSources(ctx)
    sources.start()
    # Prompt: stop() joins each thread for a few seconds at most, so a thread that slept out its poll
    # period or sweep interval instead of waking would still be alive here.
    sources.stop()
    assert not sources.pollers[0]._thread.is_alive()
    assert not sources.rules.thread.is_alive() and not sources.scheduler.thread.is_alive()


def test_a_slow_rule_target_never_builds_a_backlog(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    """At a high speed factor a target slower than its rule's period gets at most two firings in flight."""
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    release = threading.Event()
    functions.handlers["Slow"] = lambda _event: release.wait(10)
    template.add("Slow", "AWS::Lambda::Function", {})
    template.add(
        "EveryMinute",
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "Targets": [{"Arn": template.arn("Slow"), "Id": "t"}],
        },
    )
    sources = launch(ctx, running)
    # Ten periods pass (0.1 s each at this speed) while the first two firings are still running.
    wait_for(lambda: sources.status()["rules"]["skipped_catch_up"] >= 8)
    assert len(functions.of("Slow")) == 2
    release.set()
    wait_for(lambda: len(functions.of("Slow")) >= 3)
