"""Wake-on-write: moto's middleware pulses the pollers' Wakeups after writes, so a poller idling on an hour's
fallback still delivers a stream record or an SQS message at once (these tests fail without the pulse)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.runtime import sqs as sqs_module
from local.runtime import streams as streams_module
from local.runtime.context import RuntimeContext
from local.runtime.sqs import SqsPoller
from local.runtime.streams import StreamPoller
from local.runtime.ttl import TtlDeletions
from local.runtime.wakeups import Wakeup, Wakeups

from .fakes import FakeTemplate, create_table, fail, parts, stream_arn_in_template, unique, wait_for

HOUR = 3600.0
# Far under the hour of fallback: only a pulse can deliver within it, even on a loaded machine.
PROMPTLY = 10.0


def test_a_pulse_during_a_poll_ends_the_wait_that_follows() -> None:
    wakeup = Wakeup()
    seen = wakeup.count
    wakeup.pulse()  # lands after the poller read the count, before it began to wait
    started = time.monotonic()
    assert wakeup.wait(seen, HOUR)
    assert time.monotonic() - started < 1


def test_a_waiter_is_woken_by_a_pulse() -> None:
    wakeup = Wakeup()
    woke = threading.Event()

    def waiter() -> None:
        if wakeup.wait(wakeup.count, HOUR):
            woke.set()

    threading.Thread(target=waiter, daemon=True).start()
    time.sleep(0.1)
    assert not woke.is_set()
    wakeup.pulse()
    assert woke.wait(PROMPTLY)


def _request(target: str = "", method: str = "POST", service: str = "") -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    if service:
        environ["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
    return environ


def test_writes_pulse_their_kind_and_reads_pulse_nothing() -> None:
    wakeups = Wakeups()
    dynamodb, queues, events, scheduler = wakeups.dynamodb, wakeups.sqs, wakeups.events, wakeups.scheduler
    expected = {
        "DynamoDB_20120810.PutItem": [dynamodb],
        "DynamoDB_20120810.TransactWriteItems": [dynamodb],
        "DynamoDB_20120810.BatchWriteItem": [dynamodb],
        "DynamoDB_20120810.GetItem": [],
        "DynamoDB_20120810.Query": [],
        "DynamoDB_20120810.DescribeTable": [],
        "DynamoDBStreams_20120810.GetRecords": [],
        "AmazonSQS.SendMessage": [queues],
        "AmazonSQS.SendMessageBatch": [queues],
        "AmazonSQS.ChangeMessageVisibility": [queues],
        "AmazonSQS.ReceiveMessage": [],
        "AmazonSQS.DeleteMessage": [],
        "AWSEvents.PutEvents": [events, queues],
        "AWSEvents.PutRule": [],
    }
    for target, kinds in expected.items():
        assert wakeups.written(_request(target)) == kinds, target
    assert wakeups.written(_request(method="POST", service="scheduler")) == [scheduler]
    assert wakeups.written(_request(method="DELETE", service="scheduler")) == [scheduler]
    assert wakeups.written(_request(method="GET", service="scheduler")) == []
    assert wakeups.written(_request(service="sns")) == [queues]
    assert wakeups.written(_request(service="kms")) == []


@pytest.fixture
def idle_for_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams_module, "IDLE_POLL", HOUR)
    monkeypatch.setattr(sqs_module, "IDLE_POLL", HOUR)


@pytest.fixture
def stoppable() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for poller in started:
        poller.stop()


def test_an_idle_stream_poller_is_woken_by_a_put(
    make_ctx: Callable[..., RuntimeContext], idle_for_an_hour: None, stoppable: list[Any]
) -> None:
    ctx = make_ctx()
    template, functions = parts(ctx)
    table = create_table(ctx)
    template.add("Consumer", "AWS::Lambda::Function", {})
    properties = {
        "EventSourceArn": stream_arn_in_template(table),
        "FunctionName": "Consumer",
        "StartingPosition": "LATEST",
    }
    poller = StreamPoller(ctx, "Mapping", properties, TtlDeletions(), lambda _table: None)
    poller.start()
    stoppable.append(poller)
    time.sleep(0.5)  # its first polls found nothing: it now idles on the hour
    ctx.aws("dynamodb").put_item(TableName=table, Item={"pk": {"S": "woken"}})
    wait_for(lambda: poller.counts["delivered"] == 1, timeout=PROMPTLY)
    assert functions.of("Consumer")[0]["Records"][0]["dynamodb"]["Keys"] == {"pk": {"S": "woken"}}


class _QueueTemplate(FakeTemplate):
    """The fake template with one queue, named by its ARN and known by its URL as moto's are."""

    def __init__(self, arn: str, url: str) -> None:
        super().__init__()
        self.queue_arn, self.queue_url = arn, url

    def physical_id(self, logical_id: str) -> str:
        return self.queue_url if logical_id == "Queue" else logical_id

    def logical_id_for(self, arn_or_name: str) -> str | None:
        return "Queue" if arn_or_name == self.queue_arn else super().logical_id_for(arn_or_name)


def test_an_idle_sqs_poller_is_woken_by_a_send(
    make_ctx: Callable[..., RuntimeContext], idle_for_an_hour: None, stoppable: list[Any]
) -> None:
    ctx = make_ctx()
    _, functions = parts(ctx)
    sqs = ctx.aws("sqs")
    url = sqs.create_queue(QueueName=unique("woken"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ctx.template = template = _QueueTemplate(arn, url)
    template.add("Queue", "AWS::SQS::Queue", {})
    template.add("Consumer", "AWS::Lambda::Function", {})
    poller = SqsPoller(ctx, "Mapping", {"EventSourceArn": arn, "FunctionName": "Consumer"})
    poller.start()
    stoppable.append(poller)
    time.sleep(0.5)  # its first poll found nothing: it now idles on the hour
    sqs.send_message(QueueUrl=url, MessageBody="woken")
    wait_for(lambda: poller.counts["deleted"] == 1, timeout=PROMPTLY)
    assert functions.of("Consumer")[0]["Records"][0]["body"] == "woken"


def test_a_failed_message_is_retried_when_due_without_a_pulse(
    make_ctx: Callable[..., RuntimeContext], idle_for_an_hour: None, stoppable: list[Any]
) -> None:
    """Nothing is written when a failed message becomes visible again: the poller times that itself."""
    ctx = make_ctx()
    _, functions = parts(ctx)
    sqs = ctx.aws("sqs")
    url = sqs.create_queue(QueueName=unique("retried"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ctx.template = template = _QueueTemplate(arn, url)
    template.add("Queue", "AWS::SQS::Queue", {})
    template.add("Consumer", "AWS::Lambda::Function", {})

    def fails_first(event: dict[str, Any]) -> None:
        if len(functions.of("Consumer")) == 1:
            raise fail()

    functions.handlers["Consumer"] = fails_first
    poller = SqsPoller(ctx, "Mapping", {"EventSourceArn": arn, "FunctionName": "Consumer"})
    poller.start()
    stoppable.append(poller)
    sqs.send_message(QueueUrl=url, MessageBody="again")
    wait_for(lambda: poller.counts["failed"] == 1, timeout=PROMPTLY)
    wait_for(lambda: poller.counts["deleted"] == 1, timeout=PROMPTLY)
    assert [call["Records"][0]["body"] for call in functions.of("Consumer")] == ["again", "again"]
