"""The runtime's event sources: stream mappings, TTL sweeps, EventBridge rules and Scheduler schedules."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from local.runtime.context import RuntimeContext
from local.runtime.schedules import (
    AsyncInvoker,
    RuleSchedules,
    SchedulerSchedules,
    lambda_targets,
    rule_target_input,
)
from local.runtime.sqs import SqsPoller, is_queue_mapping
from local.runtime.streams import StreamPoller, stream_table_name
from local.runtime.ttl import TtlDeletions, TtlSweeper

# Idle, the bridge waits for a PutEvents (wakeups.py): moto fills the twin queues within that call. This is
# only the fallback.
BRIDGE_IDLE_POLL = 2.0


@dataclass
class _Bridge:
    logical_id: str
    account: str
    queue_url: str
    targets: list[tuple[str, dict[str, Any]]]
    delivered: int = 0


class PatternRules:
    """Template rules with an EventPattern, fed by moto's own rule matching.

    moto evaluates bus rules on PutEvents but cannot invoke our functions (a Lambda target makes its
    PutEvents fail), while it does deliver to SQS targets in server mode. So each such rule gets a
    twin in moto, same bus and pattern, targeting a private queue that this class drains into the
    template rule's Lambda targets.
    """

    def __init__(self, ctx: RuntimeContext, invoker: AsyncInvoker, stop: threading.Event) -> None:
        self.ctx = ctx
        self.invoker = invoker
        self.stop = stop
        self.bridges: list[_Bridge] = []
        self.sqs = ctx.aws("sqs")
        self.thread = threading.Thread(target=self._run, name="pattern-rules", daemon=True)

    def create(self) -> None:
        events = self.ctx.aws("events")
        for lid, resource in self.ctx.template.resources.items():
            props = resource["Properties"]
            if resource["Type"] != "AWS::Events::Rule" or "EventPattern" not in props:
                continue
            if props.get("State", "ENABLED") != "ENABLED":
                continue
            targets = lambda_targets(self.ctx, lid, props)
            if not targets:
                continue
            arn = self.ctx.template.arn(lid)
            twin = (
                "local-"
                + re.sub(r"[^A-Za-z0-9_-]", "-", lid)[:50]
                + "-"
                + hashlib.sha256(arn.encode()).hexdigest()[:8]
            )
            url = self.sqs.create_queue(QueueName=twin)["QueueUrl"]
            queue_arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            bus = str(props.get("EventBusName", "default")).rsplit("/", 1)[-1]
            pattern = props["EventPattern"]
            events.put_rule(
                Name=twin,
                EventBusName=bus,
                EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern),
                State="ENABLED",
            )
            events.put_targets(
                Rule=twin, EventBusName=bus, Targets=[{"Id": "local-runtime", "Arn": queue_arn}]
            )
            self.bridges.append(_Bridge(lid, arn.split(":")[4], url, targets))

    def status(self) -> dict[str, Any]:
        return {b.logical_id: {"delivered": b.delivered} for b in self.bridges}

    def _run(self) -> None:
        wakeup = self.ctx.wakeups.events
        while not self.stop.is_set():
            # Read before draining: an event put meanwhile then ends the wait below at once.
            seen = wakeup.count
            busy = False
            for bridge in self.bridges:
                try:
                    busy |= self._drain(bridge)
                except Exception:
                    self.ctx.log.exception("rule %s: could not read its queue", bridge.logical_id)
            if not busy:
                wakeup.wait(seen, BRIDGE_IDLE_POLL)

    def _drain(self, bridge: _Bridge) -> bool:
        messages = self.sqs.receive_message(QueueUrl=bridge.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in messages:
            event = json.loads(message["Body"])
            # moto's copy of the event lacks `account`; EventBridge always sets it.
            event.setdefault("account", bridge.account)
            for function, target in bridge.targets:
                self.invoker.submit(function, rule_target_input(target, event))
            bridge.delivered += 1
            self.sqs.delete_message(QueueUrl=bridge.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bool(messages)


class EventSources:
    """What invokes functions without an HTTP request; built once the template's resources exist."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self.deletions = TtlDeletions(ctx.wakeups.dynamodb)
        self.ttl = TtlSweeper(ctx, self.deletions)
        self.invoker = AsyncInvoker(ctx, self._stop)
        self.pollers = [
            StreamPoller(ctx, lid, resource["Properties"], self.deletions, self.ttl.ttl_attribute)
            for lid, resource in ctx.template.resources.items()
            if resource["Type"] == "AWS::Lambda::EventSourceMapping"
            and stream_table_name(str(resource["Properties"].get("EventSourceArn", ""))) is not None
        ]
        self.queues = [
            SqsPoller(ctx, lid, resource["Properties"])
            for lid, resource in ctx.template.resources.items()
            if resource["Type"] == "AWS::Lambda::EventSourceMapping"
            and is_queue_mapping(ctx, resource["Properties"])
        ]
        self.rules = RuleSchedules(ctx, self.invoker, self._stop)
        self.patterns = PatternRules(ctx, self.invoker, self._stop)
        self.scheduler = SchedulerSchedules(ctx, self.invoker, self._stop)

    def start(self) -> None:
        # TTL tables first: pollers ask the sweeper which attribute is each table's TTL.
        self.ttl.start()
        for poller in self.pollers:
            poller.start()
        for queue in self.queues:
            queue.start()
        self.patterns.create()
        for thread in (self.rules.thread, self.patterns.thread, self.scheduler.thread):
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        # The bridge and the scheduler idle on their Wakeups, not on the stop event.
        self.ctx.wakeups.events.pulse()
        self.ctx.wakeups.scheduler.pulse()
        self.ttl.stop()
        for poller in self.pollers:
            poller.stop()
        for queue in self.queues:
            queue.stop()
        for thread in (self.rules.thread, self.patterns.thread, self.scheduler.thread):
            if thread.is_alive():
                thread.join(timeout=5)
        self.invoker.shutdown()

    def status(self) -> dict[str, Any]:
        return {
            "streams": {p.logical_id: p.status() for p in self.pollers},
            "queues": {q.logical_id: q.status() for q in self.queues},
            "ttl": self.ttl.status(),
            "rules": self.rules.status(),
            "pattern_rules": self.patterns.status(),
            "scheduler": self.scheduler.status(),
            "invocations": dict(self.invoker.counts),
        }
