"""At a high speed factor, event sources keep virtual time: an `at()` schedule and a TTL fire on their
second rather than a poll period late (a period the speed multiplies), and a stream mapping's batching
window is a virtual duration like its maximum record age."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.runtime.context import RuntimeContext
from local.runtime.schedules import SCHEDULER_POLL, SchedulerSchedules
from local.runtime.streams import POLL_INTERVAL
from local.runtime.ttl import SWEEP_INTERVAL, TtlDeletions, TtlSweeper

from .fakes import (
    ACCOUNT,
    REGION,
    REMOVES_ONLY,
    FakeFunctions,
    add_consumer_mapping,
    create_table,
    launch,
    parts,
    unique,
    wait_for,
)

# A poll period of 0.2 s is 20 virtual seconds here: late firings cannot hide.
SPEED = 100.0
# Firing lag we accept, in real seconds: far below any poll or sweep period.
LAG = 0.12


def stamping(ctx: RuntimeContext, functions: FakeFunctions, name: str) -> list[float]:
    """Virtual instants at which `name` is invoked (taken inside the invocation, not by a test poll)."""
    stamps: list[float] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any]) -> None:
        with lock:
            stamps.append(ctx.clock.now())

    functions.handlers[name] = handler
    return stamps


def at_expression(epoch: int) -> str:
    return f"at({datetime.fromtimestamp(epoch, UTC):%Y-%m-%dT%H:%M:%S})"


def test_the_scheduler_wakes_for_the_next_due_schedule(make_ctx: Callable[..., RuntimeContext]) -> None:
    ctx = make_ctx(speed=SPEED)
    schedules = SchedulerSchedules(ctx, invoker=None, stop=threading.Event())  # type: ignore[arg-type]
    assert schedules.next_wait() == SCHEDULER_POLL
    schedules.poll()  # nothing listed (or only others' schedules): entries stay as moto has them
    schedules.entries.clear()
    due_in_virtual = 5.0  # 0.05 real seconds at this speed
    schedules.entries["arn:soon"] = _entry(ctx.clock.now() + due_in_virtual)
    assert 0.0 < schedules.next_wait() <= due_in_virtual / SPEED
    schedules.entries["arn:later"] = _entry(ctx.clock.now() + 3600)
    assert schedules.next_wait() <= due_in_virtual / SPEED
    schedules.entries.pop("arn:soon")
    assert schedules.next_wait() == SCHEDULER_POLL


def _entry(next_fire: float) -> Any:
    from local.runtime.schedules import _Schedule

    return _Schedule("arn", "name", "group", (), {}, None, None, None, next_fire)


def test_at_schedules_fire_on_their_second_at_speed(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    template.add("Target", "AWS::Lambda::Function", {})
    stamps = stamping(ctx, functions, "Target")
    launch(ctx, running)
    scheduler = ctx.aws("scheduler")
    group = unique("group")
    scheduler.create_schedule_group(Name=group)
    # Due 60-88 virtual seconds ahead (0.6-0.88 s real), well after the scheduler has listed them.
    instants = [int(ctx.clock.now()) + 60 + 7 * i for i in range(5)]
    for instant in instants:
        scheduler.create_schedule(
            Name=unique("once"),
            GroupName=group,
            ScheduleExpression=at_expression(instant),
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Target", "RoleArn": "arn:r"},
            ActionAfterCompletion="DELETE",
        )
    wait_for(lambda: len(stamps) == len(instants))
    lags = [ctx.clock.real_seconds(fired - due) for fired, due in zip(sorted(stamps), instants, strict=True)]
    assert all(lag >= 0 for lag in lags), lags
    # A fixed 0.2 s poll would make these lags spread over [0, 0.2].
    assert max(lags) < LAG, f"real lags {lags}"


def test_the_sweeper_remembers_what_falls_due_before_its_next_sweep(
    make_ctx: Callable[..., RuntimeContext],
) -> None:
    ctx = make_ctx(speed=SPEED)
    table = create_table(ctx, ttl=True)
    sweeper = TtlSweeper(ctx, TtlDeletions())
    sweeper._refresh_tables(force=True)
    dynamodb = ctx.aws("dynamodb")
    now = int(ctx.clock.now())
    soon = now + 40  # 0.4 real seconds: within the lookahead, 2 * SWEEP_INTERVAL real seconds
    far = now + int(10 * SWEEP_INTERVAL * SPEED)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "soon"}, "ttl": {"N": str(soon)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "moved"}, "ttl": {"N": str(soon)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "far"}, "ttl": {"N": str(far)}})
    assert sweeper.sweep() == 0
    assert 0 < sweeper._until_next_due() <= 40 / SPEED
    # Its TTL pushed back after the sweep saw it: the remembered copy must not delete it.
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "moved"}, "ttl": {"N": str(far)}})
    wait_for(lambda: ctx.clock.now() >= soon)
    assert sweeper._expire_due() == 1
    left = {i["pk"]["S"] for i in dynamodb.scan(TableName=table)["Items"]}
    assert left == {"moved", "far"}
    assert sweeper._until_next_due() == float("inf")


def test_a_ttl_removal_reaches_its_mapping_within_moments_at_speed(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    table = create_table(ctx, ttl=True)
    add_consumer_mapping(template, table, **REMOVES_ONLY)
    stamps = stamping(ctx, functions, "Consumer")
    launch(ctx, running)
    dynamodb = ctx.aws("dynamodb")
    # Due 60-88 virtual seconds ahead (0.6-0.88 s real): at least one sweep sees each coming.
    instants = [int(ctx.clock.now()) + 60 + 7 * i for i in range(5)]
    for i, instant in enumerate(instants):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"lease{i}"}, "ttl": {"N": str(instant)}})
    wait_for(lambda: len(stamps) == len(instants))
    lags = [ctx.clock.real_seconds(seen - due) for seen, due in zip(sorted(stamps), instants, strict=True)]
    # A sweep period plus a poll interval would spread these over [0, SWEEP_INTERVAL + POLL_INTERVAL].
    assert max(lags) < LAG < SWEEP_INTERVAL + POLL_INTERVAL, f"REMOVEs reached the mapping {lags} s late"
    for call in functions.of("Consumer"):
        for record in call["Records"]:
            assert record["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"


def test_the_batching_window_is_virtual_time(make_ctx: Callable[..., RuntimeContext], running: list) -> None:
    ctx = make_ctx(speed=SPEED)
    template, functions = parts(ctx)
    table = create_table(ctx)
    # A 60 virtual-second window: 0.6 s real at this speed (a real-time window would hold them a minute).
    add_consumer_mapping(template, table, BatchSize=100, MaximumBatchingWindowInSeconds=60)
    launch(ctx, running)
    dynamodb = ctx.aws("dynamodb")
    for key in ("a", "b", "c"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})
    wait_for(lambda: functions.of("Consumer"), timeout=5.0)
    # Gathered into one batch: the window still holds records back, for its virtual length.
    assert [[r["dynamodb"]["Keys"]["pk"]["S"] for r in c["Records"]] for c in functions.of("Consumer")] == [
        ["a", "b", "c"]
    ]
