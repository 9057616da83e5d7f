"""At a high speed factor, event sources keep virtual time: an `at()` schedule and a TTL fire on their
second rather than a poll period late (a period the speed multiplies), and a stream mapping's batching
window is a virtual duration like its maximum record age.

Virtual time is held still here (fakes.SteppedClock) and moved by the test, so each assertion is about the
virtual instant something happened at, or the real wait a source computes, never about how fast this
machine ran: a loaded machine only makes the tests slower, not wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from local.runtime.context import RuntimeContext
from local.runtime.schedules import SCHEDULER_POLL, SchedulerSchedules
from local.runtime.ttl import SWEEP_INTERVAL, TtlDeletions, TtlSweeper

from .fakes import (
    ACCOUNT,
    REGION,
    REMOVES_ONLY,
    FakeFunctions,
    InlineInvoker,
    SteppedClock,
    add_consumer_mapping,
    create_table,
    launch,
    parts,
    unique,
    wait_for,
)

# A poll period of 0.2 s is 20 virtual seconds here: late firings cannot hide.
SPEED = 100.0


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


def stepped(make_ctx: Callable[..., RuntimeContext]) -> tuple[RuntimeContext, SteppedClock]:
    clock = SteppedClock(SPEED)
    return make_ctx(clock=clock), clock


def test_the_scheduler_wakes_for_the_next_due_schedule(make_ctx: Callable[..., RuntimeContext]) -> None:
    ctx, clock = stepped(make_ctx)
    schedules = SchedulerSchedules(ctx, invoker=None, stop=threading.Event())  # type: ignore[arg-type]
    assert schedules.next_wait() == SCHEDULER_POLL
    schedules.poll()  # nothing listed (or only others' schedules): entries stay as moto has them
    schedules.entries.clear()
    due_in_virtual = 5.0  # 0.05 real seconds at this speed
    schedules.entries["arn:soon"] = _entry(clock.now() + due_in_virtual)
    assert schedules.next_wait() == pytest.approx(due_in_virtual / SPEED)
    schedules.entries["arn:later"] = _entry(clock.now() + 3600)
    assert schedules.next_wait() == pytest.approx(due_in_virtual / SPEED)
    schedules.entries.pop("arn:soon")
    assert schedules.next_wait() == SCHEDULER_POLL


def _entry(next_fire: float) -> Any:
    from local.runtime.schedules import _Schedule

    return _Schedule("arn", "name", "group", (), {}, None, None, None, next_fire)


def test_at_schedules_fire_on_their_second_at_speed(make_ctx: Callable[..., RuntimeContext]) -> None:
    """The scheduler thread sleeps `next_wait()` then polls: one virtual second before each schedule is due
    it sleeps exactly that second (not a poll period, 20 virtual seconds here), fires nothing early, and
    fires the schedule when its second comes."""
    ctx, clock = stepped(make_ctx)
    template, functions = parts(ctx)
    template.add("Target", "AWS::Lambda::Function", {})
    stamps = stamping(ctx, functions, "Target")
    schedules = SchedulerSchedules(ctx, InlineInvoker(functions), threading.Event())  # type: ignore[arg-type]
    scheduler = ctx.aws("scheduler")
    group = unique("group")
    scheduler.create_schedule_group(Name=group)
    instants = [int(clock.now()) + 60 + 7 * i for i in range(5)]
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
    schedules.poll()
    assert stamps == []
    for fired, instant in enumerate(instants):
        clock.set(instant - 1)
        schedules.poll()
        assert len(stamps) == fired, f"fired before {instant}"
        assert schedules.next_wait() == pytest.approx(1 / SPEED)
        clock.set(instant)
        schedules.poll()
        assert stamps[fired:] == [instant]
    assert scheduler.list_schedules(GroupName=group)["Schedules"] == []


def test_the_sweeper_remembers_what_falls_due_before_its_next_sweep(
    make_ctx: Callable[..., RuntimeContext],
) -> None:
    ctx, clock = stepped(make_ctx)
    table = create_table(ctx, ttl=True)
    sweeper = TtlSweeper(ctx, TtlDeletions())
    sweeper._refresh_tables(force=True)
    dynamodb = ctx.aws("dynamodb")
    now = int(clock.now())
    clock.set(now)
    soon = now + 40  # 0.4 real seconds: within the lookahead, 2 * SWEEP_INTERVAL real seconds
    far = now + int(10 * SWEEP_INTERVAL * SPEED)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "soon"}, "ttl": {"N": str(soon)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "moved"}, "ttl": {"N": str(soon)}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "far"}, "ttl": {"N": str(far)}})
    assert sweeper.sweep() == 0
    # Between sweeps the sweeper waits for the first remembered instant, not for the next sweep.
    assert sweeper._until_next_due() == pytest.approx(40 / SPEED)
    # Its TTL pushed back after the sweep saw it: the remembered copy must not delete it.
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "moved"}, "ttl": {"N": str(far)}})
    clock.set(soon - 1)
    assert sweeper._expire_due() == 0
    clock.set(soon)
    assert sweeper._expire_due() == 1
    left = {i["pk"]["S"] for i in dynamodb.scan(TableName=table)["Items"]}
    assert left == {"moved", "far"}
    assert sweeper._until_next_due() == float("inf")


def test_a_ttl_deletion_wakes_the_stream_pollers_at_once() -> None:
    """A poller idles on the DynamoDB Wakeup for its fallback; a TTL deletion's mark cuts that short, so its
    REMOVE does not wait out the fallback. The wait here is an hour: only the pulse can end it in the test."""
    deletions = TtlDeletions()
    woke = threading.Event()
    seen = deletions.wakeup.count

    def idler() -> None:
        deletions.wakeup.wait(seen, 3600)
        woke.set()

    threading.Thread(target=idler, daemon=True).start()
    deletions.mark("table", {"pk": {"S": "lease"}}, {"N": "1"})
    assert woke.wait(timeout=30)


def test_a_ttl_removal_reaches_its_mapping_on_its_second_at_speed(
    make_ctx: Callable[..., RuntimeContext], running: list
) -> None:
    ctx, clock = stepped(make_ctx)
    template, functions = parts(ctx)
    table = create_table(ctx, ttl=True)
    add_consumer_mapping(template, table, **REMOVES_ONLY)
    stamps = stamping(ctx, functions, "Consumer")
    launch(ctx, running)
    dynamodb = ctx.aws("dynamodb")
    # Due 60-88 virtual seconds ahead: the sweeps running meanwhile see each coming.
    instants = [int(clock.now()) + 60 + 7 * i for i in range(5)]
    for i, instant in enumerate(instants):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"lease{i}"}, "ttl": {"N": str(instant)}})
    for seen, instant in enumerate(instants):
        clock.set(instant)
        wait_for(lambda n=seen: len(stamps) > n, timeout=30)
    # Each REMOVE reached the mapping at the virtual second its TTL fell due, none before.
    assert stamps == instants
    for call in functions.of("Consumer"):
        for record in call["Records"]:
            assert record["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"


def test_the_batching_window_is_virtual_time(make_ctx: Callable[..., RuntimeContext], running: list) -> None:
    ctx, clock = stepped(make_ctx)
    template, functions = parts(ctx)
    table = create_table(ctx)
    # A 60 virtual-second window: held back until virtual time has moved 60 s, however long that takes.
    add_consumer_mapping(template, table, BatchSize=100, MaximumBatchingWindowInSeconds=60)
    sources = launch(ctx, running)
    dynamodb = ctx.aws("dynamodb")
    for key in ("a", "b", "c"):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": key}})
    wait_for(lambda: sources.status()["streams"]["Mapping"]["pending"] == 3, timeout=30)
    clock.set(clock.now() + 59)
    assert functions.of("Consumer") == []
    clock.set(clock.now() + 1)
    wait_for(lambda: functions.of("Consumer"), timeout=30)
    # Gathered into one batch: the window held the records back for its virtual length.
    assert [[r["dynamodb"]["Keys"]["pk"]["S"] for r in c["Records"]] for c in functions.of("Consumer")] == [
        ["a", "b", "c"]
    ]
