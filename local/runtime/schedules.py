"""Time-driven event sources on virtual time: EventBridge schedule rules and Scheduler schedules."""

from __future__ import annotations

import calendar
import json
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from jsonpath_ng.ext.parser import parse as jsonpath
from moto.events.utils import EventTemplateParser

from local.runtime.context import FunctionError, RuntimeContext
from local.runtime.streams import to_virtual

TICK = 0.1
# Idle, the Scheduler poller waits for a Create/Update/DeleteSchedule to reach moto (wakeups.py) or for the
# next known schedule to fall due; this is only the fallback.
SCHEDULER_POLL = 2.0
# After a poll that left a schedule overdue (its firing failed), the pace of the next tries.
OVERDUE_RETRY = 0.2
# The shortest nap between polls (a schedule due in under this fires at the next one).
MIN_WAIT = 0.005
MAX_CATCH_UP = 60
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
CRON_HORIZON_DAYS = 5 * 366


def iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- expressions ---------------------------------------------------------------------------------
def parse_rate(expression: str) -> float:
    """Seconds between firings of `rate(N unit)`."""
    match = re.fullmatch(r"rate\(\s*(\d+)\s+(\w+)\s*\)", expression.strip())
    if not match or match.group(2) not in _UNITS or int(match.group(1)) < 1:
        raise ValueError(f"invalid rate expression {expression!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_at(expression: str, timezone: str | None) -> float:
    """The instant of `at(yyyy-mm-ddThh:mm:ss)` read in the schedule's timezone."""
    match = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", expression.strip())
    if not match:
        raise ValueError(f"invalid at expression {expression!r}")
    local = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    return local.timestamp()


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-")
            start, end = names.get(first.upper()) or int(first), names.get(last.upper()) or int(last)
        else:
            start = names.get(part.upper()) or int(part)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ValueError(f"cron field {field!r} is out of range {low}-{high}")
        found.update(range(start, end + 1, step))
    return found


def _aws_weekday(day: date) -> int:
    """AWS numbers days of the week SUN=1 .. SAT=7; Python numbers MON=0 .. SUN=6."""
    return (day.weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The `nW` rule: the weekday nearest to day n, never leaving the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < last else day - 2
    return day


class Cron:
    """AWS's six-field cron (min hour day-of-month month day-of-week year) with ?, L, W and #.

    Written here because AWS's dialect differs from Unix cron libraries: a year field, `?`, SUN=1
    day numbering and the L/W/# forms.
    """

    def __init__(self, expression: str) -> None:
        match = re.fullmatch(r"cron\((.*)\)", expression.strip())
        fields = match.group(1).split() if match else []
        if len(fields) != 6:
            raise ValueError(f"invalid cron expression {expression!r}")
        minutes, hours, self.dom, months, self.dow, years = (f.upper() for f in fields)
        if (self.dom == "?") == (self.dow == "?"):
            raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
        self.minutes = sorted(_values(minutes, 0, 59, {}))
        self.hours = sorted(_values(hours, 0, 23, {}))
        self.months = _values(months, 1, 12, _MONTHS)
        self.years = _values(years, 1970, 2199, {})
        self.dom_days = self._plain(self.dom, 1, 31, {})
        self.dow_days = self._plain(self.dow, 1, 7, _DAYS)

    @staticmethod
    def _plain(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
        plain = [p for p in field.split(",") if not re.search(r"[LW#]", p)]
        return _values(",".join(plain), low, high, names) if plain else set()

    def _day_matches(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.dow == "?":
            for part in self.dom.split(","):
                if part == "L" and day.day == last:
                    return True
                if part == "LW" and day.day == _nearest_weekday(day.year, day.month, last):
                    return True
                nearest = part.endswith("W") and part[:-1].isdigit()
                if nearest and day.day == _nearest_weekday(day.year, day.month, int(part[:-1])):
                    return True
            return day.day in self.dom_days
        weekday = _aws_weekday(day)
        for part in self.dow.split(","):
            if part == "L" and weekday == 7:
                return True
            if part.endswith("L") and part[:-1]:
                target = _DAYS.get(part[:-1]) or int(part[:-1])
                if weekday == target and day.day + 7 > last:
                    return True
            if "#" in part:
                name, nth = part.split("#")
                target = _DAYS.get(name) or int(name)
                if weekday == target and (day.day - 1) // 7 + 1 == int(nth):
                    return True
        return weekday in self.dow_days

    def next_after(self, after: float, zone: tzinfo = UTC) -> float | None:
        """The first firing strictly after `after` (epoch seconds), or None within five years."""
        start = datetime.fromtimestamp(after, zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(CRON_HORIZON_DAYS):
            if day.year in self.years and day.month in self.months and self._day_matches(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if candidate >= start:
                            return candidate.timestamp()
            day += timedelta(days=1)
        return None


@dataclass
class Recurrence:
    """When a rate() or cron() expression fires next, given the last firing."""

    expression: str
    anchor: float
    zone: tzinfo = UTC

    def __post_init__(self) -> None:
        self.period = parse_rate(self.expression) if self.expression.startswith("rate(") else None
        self.cron = Cron(self.expression) if self.period is None else None

    def next_after(self, instant: float) -> float | None:
        if self.period is not None:
            if instant < self.anchor:
                return self.anchor + self.period
            return self.anchor + ((instant - self.anchor) // self.period + 1) * self.period
        assert self.cron is not None
        return self.cron.next_after(instant, self.zone)


# -- invoking targets ----------------------------------------------------------------------------
class AsyncInvoker:
    """Lambda's asynchronous invocation, as EventBridge and Scheduler use it: retried twice on error.

    The retries wait 1 and 2 virtual minutes, as Lambda's do, so a demo's speed factor shortens them.
    """

    RETRY_DELAYS = (60.0, 120.0)

    def __init__(self, ctx: RuntimeContext, stop: threading.Event) -> None:
        self.ctx = ctx
        self.stop = stop
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="event-invoke")
        self.counts = {"invoked": 0, "succeeded": 0, "failed": 0}
        self._lock = threading.Lock()

    def submit(
        self, function: str, payload: Any, on_failure: Callable[[dict[str, Any]], None] | None = None
    ) -> Future[None]:
        return self.pool.submit(self._run, function, payload, on_failure)

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _run(self, function: str, payload: Any, on_failure: Callable[[dict[str, Any]], None] | None) -> None:
        error: dict[str, Any] = {}
        for attempt in range(len(self.RETRY_DELAYS) + 1):
            if attempt and self.stop.wait(self.ctx.clock.real_seconds(self.RETRY_DELAYS[attempt - 1])):
                return
            self._count("invoked")
            try:
                self.ctx.functions.invoke(function, payload)
            except FunctionError as failure:
                error = failure.payload
                self.ctx.log.warning("%s failed (attempt %d): %s", function, attempt + 1, error)
                continue
            except Exception as failure:
                error = {"errorMessage": str(failure), "errorType": type(failure).__name__}
                self.ctx.log.exception("%s could not be invoked", function)
                continue
            self._count("succeeded")
            return
        self._count("failed")
        if on_failure is not None:
            on_failure(error)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def rule_target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What an EventBridge target receives: the event, or its Input / InputPath / InputTransformer."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        found = jsonpath(target["InputPath"]).find(event)
        return found[0].value if found else None
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        with_ingestion = {**event, "ingestion-time": event.get("time")}
        return EventTemplateParser.parse(
            input_template=transformer["InputTemplate"],
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=with_ingestion,  # type: ignore[arg-type]
        )
    return event


def lambda_targets(
    ctx: RuntimeContext, rule_id: str, props: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """(function logical id, target) for each of a rule's targets that is a template function."""
    found = []
    for target in props.get("Targets") or []:
        function = (
            ctx.template.logical_id_for(str(target["Arn"])) if ":lambda:" in str(target["Arn"]) else None
        )
        if function is None:
            ctx.log.warning(
                "rule %s: target %s is not a template function; not delivered", rule_id, target["Arn"]
            )
            continue
        found.append((function, target))
    return found


# -- EventBridge schedule rules ------------------------------------------------------------------
@dataclass
class _RuleTimer:
    logical_id: str
    arn: str
    recurrence: Recurrence
    targets: list[tuple[str, dict[str, Any]]]
    next_fire: float | None
    fired: int = 0
    in_flight: dict[str, list[Future[None]]] = field(default_factory=dict)


MAX_OVERLAPPING_FIRINGS = 2


class RuleSchedules:
    """The template's AWS::Events::Rule resources with a ScheduleExpression, fired on virtual time (UTC)."""

    def __init__(self, ctx: RuntimeContext, invoker: AsyncInvoker, stop: threading.Event) -> None:
        self.ctx = ctx
        self.invoker = invoker
        self.stop = stop
        self.region = ctx.aws("events").meta.region_name
        self.timers: list[_RuleTimer] = []
        self.skipped = 0
        now = ctx.clock.now()
        for lid, resource in ctx.template.resources.items():
            props = resource["Properties"]
            if resource["Type"] != "AWS::Events::Rule" or "ScheduleExpression" not in props:
                continue
            if props.get("State", "ENABLED") != "ENABLED":
                continue
            recurrence = Recurrence(props["ScheduleExpression"], anchor=now)
            targets = lambda_targets(ctx, lid, props)
            self.timers.append(
                _RuleTimer(lid, ctx.template.arn(lid), recurrence, targets, recurrence.next_after(now))
            )
        self.thread = threading.Thread(target=self._run, name="rule-schedules", daemon=True)

    def status(self) -> dict[str, Any]:
        return {
            t.logical_id: {
                "fired": t.fired,
                "next": None if t.next_fire is None else iso_seconds(t.next_fire),
            }
            for t in self.timers
        } | {"skipped_catch_up": self.skipped}

    def _run(self) -> None:
        while not self.stop.wait(TICK):
            try:
                self.tick()
            except Exception:
                self.ctx.log.exception("rule schedules: tick failed")

    def tick(self) -> None:
        now = self.ctx.clock.now()
        for timer in self.timers:
            due = 0
            while timer.next_fire is not None and timer.next_fire <= now:
                if due < MAX_CATCH_UP:
                    self._fire(timer, timer.next_fire)
                    due += 1
                else:
                    self.skipped += 1
                timer.next_fire = timer.recurrence.next_after(timer.next_fire)

    def _fire(self, timer: _RuleTimer, instant: float) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": timer.arn.split(":")[4],
            "time": iso_seconds(instant),
            "region": self.region,
            "resources": [timer.arn],
            "detail": {},
        }
        timer.fired += 1
        for function, target in timer.targets:
            running = [f for f in timer.in_flight.get(function, []) if not f.done()]
            if len(running) >= MAX_OVERLAPPING_FIRINGS:
                # Lambda would run every overlapping firing side by side; locally a high speed factor would
                # only pile up a backlog that starves the REST routes of the same function: skip and count.
                self.skipped += 1
                continue
            running.append(self.invoker.submit(function, rule_target_input(target, event)))
            timer.in_flight[function] = running


# -- EventBridge Scheduler -----------------------------------------------------------------------
@dataclass
class _Schedule:
    arn: str
    name: str
    group: str
    version: tuple[Any, ...]
    detail: dict[str, Any]
    once_key: tuple[Any, ...] | None
    recurrence: Recurrence | None
    end: float | None
    next_fire: float | None


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if isinstance(value, datetime) else float(value)


class SchedulerSchedules:
    """Scheduler schedules created at run time (in moto), fired on virtual time in their timezone."""

    def __init__(self, ctx: RuntimeContext, invoker: AsyncInvoker, stop: threading.Event) -> None:
        self.ctx = ctx
        self.invoker = invoker
        self.stop = stop
        self.client = ctx.aws("scheduler")
        self.entries: dict[str, _Schedule] = {}
        self.fired_once: set[tuple[Any, ...]] = set()
        self.counts = {
            "polls": 0,
            "fired": 0,
            "deleted": 0,
            "dead_lettered": 0,
            "invalid": 0,
            "skipped_catch_up": 0,
        }
        self.thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def status(self) -> dict[str, Any]:
        return {"schedules": len(self.entries), **self.counts}

    def _run(self) -> None:
        wakeup = self.ctx.wakeups.scheduler
        while not self.stop.is_set():
            # Read before polling: a schedule created during the poll then ends the wait below at once.
            seen = wakeup.count
            try:
                self.poll()
            except Exception:
                self.ctx.log.exception("scheduler: poll failed")
            wakeup.wait(seen, self.next_wait())

    def next_wait(self) -> float:
        """Real seconds until the next poll (unless a schedule is created, changed or deleted meanwhile):
        SCHEDULER_POLL, or sooner when a known schedule is due sooner.

        Polling on a fixed period alone would fire an `at()` schedule up to a period late, which a speed
        factor multiplies (0.2 s at speed 20 is 4 virtual seconds). The due poll still lists the schedules
        first, so one deleted or changed in the meantime is not fired from a stale copy.
        """
        due = [e.next_fire for e in list(self.entries.values()) if e.next_fire is not None]
        if not due:
            return SCHEDULER_POLL
        until = self.ctx.clock.real_seconds(min(due) - self.ctx.clock.now())
        if until < -MIN_WAIT * 10:
            # Overdue after a poll means its firing failed: retry at a steady pace, not in a spin.
            return OVERDUE_RETRY
        return min(SCHEDULER_POLL, max(MIN_WAIT, until))

    def poll(self) -> None:
        listed: dict[str, dict[str, Any]] = {}
        for groups in self.client.get_paginator("list_schedule_groups").paginate():
            for group in groups["ScheduleGroups"]:
                pages = self.client.get_paginator("list_schedules").paginate(GroupName=group["Name"])
                listed.update({s["Arn"]: s for page in pages for s in page["Schedules"]})
        for arn in set(self.entries) - set(listed):
            del self.entries[arn]
        now = self.ctx.clock.now()
        for arn, summary in listed.items():
            version = (summary.get("LastModificationDate"), summary.get("State"))
            entry = self.entries.get(arn)
            if entry is None or entry.version != version:
                loaded = self._load(summary, version, now)
                if loaded is None:
                    continue
                entry = self.entries[arn] = loaded
            self._fire_due(entry, now)
        self.counts["polls"] += 1

    def _load(self, summary: dict[str, Any], version: tuple[Any, ...], now: float) -> _Schedule | None:
        try:
            detail = self.client.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
        except self.client.exceptions.ResourceNotFoundException:
            return None
        expression = detail["ScheduleExpression"]
        timezone = detail.get("ScheduleExpressionTimezone") or "UTC"
        entry = _Schedule(
            detail["Arn"], detail["Name"], detail["GroupName"], version, detail, None, None, None, None
        )
        try:
            if expression.startswith("at("):
                entry.once_key = (detail["Arn"], _epoch(detail.get("CreationDate")), expression, timezone)
                if entry.once_key not in self.fired_once:
                    entry.next_fire = parse_at(expression, timezone)
            else:
                # Callers compute StartDate/EndDate from their own (virtual) clock; CreationDate is wall time.
                start = _epoch(detail.get("StartDate")) or to_virtual(
                    self.ctx, _epoch(detail["CreationDate"]) or 0.0
                )
                entry.end = _epoch(detail.get("EndDate"))
                entry.recurrence = Recurrence(expression, anchor=start, zone=ZoneInfo(timezone))
                entry.next_fire = entry.recurrence.next_after(max(now, start))
        except ValueError as error:
            self.counts["invalid"] += 1
            self.ctx.log.error("schedule %s: %s", detail["Arn"], error)
        if detail.get("State", "ENABLED") != "ENABLED":
            entry.next_fire = None
        return entry

    def _fire_due(self, entry: _Schedule, now: float) -> None:
        if entry.next_fire is None or entry.next_fire > now:
            return
        if entry.once_key is not None:
            self._fire(entry, entry.next_fire)
            self.fired_once.add(entry.once_key)
            entry.next_fire = None
            self._complete(entry)
            return
        assert entry.recurrence is not None
        fired = 0
        while entry.next_fire is not None and entry.next_fire <= now:
            if entry.end is not None and entry.next_fire > entry.end:
                entry.next_fire = None
                break
            if fired < MAX_CATCH_UP:
                self._fire(entry, entry.next_fire)
                fired += 1
            else:
                self.counts["skipped_catch_up"] += 1
            entry.next_fire = entry.recurrence.next_after(entry.next_fire)
        if entry.next_fire is None or (entry.end is not None and entry.next_fire > entry.end):
            self._complete(entry)

    def _complete(self, entry: _Schedule) -> None:
        if entry.detail.get("ActionAfterCompletion") != "DELETE":
            return
        try:
            self.client.delete_schedule(Name=entry.name, GroupName=entry.group)
            self.counts["deleted"] += 1
        except self.client.exceptions.ResourceNotFoundException:
            pass
        self.entries.pop(entry.arn, None)

    def _payload(self, entry: _Schedule, instant: float, execution: str) -> Any:
        text = entry.detail["Target"].get("Input")
        if text is None:
            return {}
        context = {
            "<aws.scheduler.schedule-arn>": entry.arn,
            "<aws.scheduler.scheduled-time>": iso_seconds(instant),
            "<aws.scheduler.execution-id>": execution,
            "<aws.scheduler.attempt-number>": "1",
        }
        for placeholder, value in context.items():
            text = text.replace(placeholder, value)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def _fire(self, entry: _Schedule, instant: float) -> None:
        self.counts["fired"] += 1
        target = entry.detail["Target"]
        execution = str(uuid.uuid4())
        payload = self._payload(entry, instant, execution)
        arn = str(target["Arn"])
        function = self.ctx.template.logical_id_for(arn) if ":lambda:" in arn else None
        if function is not None:
            self.invoker.submit(function, payload)
        elif ":sqs:" in arn:
            _, _, _, _, account, name = arn.split(":", 5)
            sqs = self.ctx.aws("sqs")
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(
                QueueUrl=url, MessageBody=payload if isinstance(payload, str) else json.dumps(payload)
            )
        else:
            # The target cannot be reached at all: a non-retryable failure, so straight to the DLQ.
            self._dead_letter(entry, payload, execution, "ResourceNotFoundException", f"no target {arn}")

    def _dead_letter(self, entry: _Schedule, payload: Any, execution: str, code: str, message: str) -> None:
        self.ctx.log.error("schedule %s: %s", entry.arn, message)
        queue = (entry.detail["Target"].get("DeadLetterConfig") or {}).get("Arn")
        if not queue:
            return
        _, _, _, _, account, name = queue.split(":", 5)
        sqs = self.ctx.aws("sqs")
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        attributes = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
            "EXECUTION_ID": execution,
            "RETRY_ATTEMPTS": "0",
            "SCHEDULE_ARN": entry.arn,
            "TARGET_ARN": str(entry.detail["Target"]["Arn"]),
        }
        sqs.send_message(
            QueueUrl=url,
            MessageBody=payload if isinstance(payload, str) else json.dumps(payload),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        self.counts["dead_lettered"] += 1
