"""Fakes of the runtime context (template, function pool) and helpers for the event-source tests."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from local.runtime.clock import VirtualClock
from local.runtime.context import FunctionError, RuntimeContext

REGION = "us-east-1"
ACCOUNT = "123456789012"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ[_name] = "testing"
os.environ["AWS_DEFAULT_REGION"] = REGION


class FakeTemplate:
    """Resources with resolved Properties; functions and rules named by their logical id."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}

    def add(self, logical_id: str, type_name: str, properties: dict[str, Any]) -> None:
        self.resources[logical_id] = {"Type": type_name, "Properties": properties, "Metadata": {}}

    def physical_id(self, logical_id: str) -> str:
        return logical_id

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"
        return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{logical_id}"

    def logical_id_for(self, arn_or_name: str) -> str | None:
        name = arn_or_name.split(":function:")[-1].split(":")[0]
        return name if name in self.resources else None


class FakeFunctions:
    """Records every invocation; a handler per function decides the response or raises FunctionError."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        self.lock = threading.Lock()

    def invoke(self, logical_id: str, event: dict[str, Any], *, asynchronous: bool = False) -> Any:
        with self.lock:
            self.calls.setdefault(logical_id, []).append(event)
        handler = self.handlers.get(logical_id)
        return handler(event) if handler else None

    def of(self, logical_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.calls.get(logical_id, []))


class SteppedClock(VirtualClock):
    """The runtime's clock held still: virtual time moves only when the test sets it, so what an event
    source fires at which virtual instant does not depend on how loaded the machine is. `speed` still
    converts virtual durations into the real waits the sources take."""

    def __init__(self, speed: float) -> None:
        super().__init__(speed)
        self.instant = self.origin

    def now(self) -> float:
        return self.instant

    def set(self, instant: float) -> None:
        self.instant = instant


class InlineInvoker:
    """An invoker running each target at once on the caller's thread (the scheduler's, in tests that
    drive it by hand), so a firing is complete when the call that fired it returns."""

    def __init__(self, functions: FakeFunctions) -> None:
        self.functions = functions

    def submit(self, function: str, payload: Any, on_failure: Any = None) -> Future[None]:
        done: Future[None] = Future()
        self.functions.invoke(function, payload)
        done.set_result(None)
        return done


def fail(message: str = "boom") -> FunctionError:
    return FunctionError({"errorMessage": message, "errorType": "Exception"})


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` until it is truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_table(ctx: RuntimeContext, *, ttl: bool = False) -> str:
    name = unique("events-table")
    client = ctx.aws("dynamodb")
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    if ttl:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
    return name


def stream_arn_in_template(table: str) -> str:
    # Deliberately not moto's label: the runtime must map by table name.
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/1970-01-01T00:00:00.000"


def parts(ctx: Any) -> tuple[FakeTemplate, FakeFunctions]:
    """The fake template and functions of a context made by `make_ctx`."""
    assert isinstance(ctx.template, FakeTemplate)
    assert isinstance(ctx.functions, FakeFunctions)
    return ctx.template, ctx.functions


def add_consumer_mapping(template: FakeTemplate, table: str, **props: Any) -> None:
    """A `Consumer` function and a `Mapping` from the table's stream to it (LATEST unless `props` say)."""
    template.add("Consumer", "AWS::Lambda::Function", {})
    template.add(
        "Mapping",
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": stream_arn_in_template(table),
            "FunctionName": "Consumer",
            "StartingPosition": "LATEST",
            **props,
        },
    )


REMOVES_ONLY = {"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}]}}


def launch(ctx: Any, running: list[Any]) -> Any:
    """The runtime's event sources on `ctx`, started, and stopped by the `running` fixture."""
    from local.runtime.events import EventSources

    sources = EventSources(ctx)
    sources.start()
    running.append(sources)
    return sources
