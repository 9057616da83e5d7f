"""Stream mappings against moto's real stream: filters, batch size, partial failures, retries, destination."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.runtime.context import RuntimeContext
from local.runtime.streams import StreamPoller
from local.runtime.ttl import TtlDeletions

from .fakes import FakeFunctions, FakeTemplate, create_table, fail, stream_arn_in_template, unique, wait_for


@pytest.fixture
def pollers() -> Iterator[list[StreamPoller]]:
    started: list[StreamPoller] = []
    yield started
    for poller in started:
        poller.stop()


def start_mapping(
    ctx: RuntimeContext, pollers: list[StreamPoller], table: str, **props: Any
) -> tuple[StreamPoller, FakeFunctions]:
    template = ctx.template
    assert isinstance(template, FakeTemplate)
    template.add("Consumer", "AWS::Lambda::Function", {})
    properties = {
        "EventSourceArn": stream_arn_in_template(table),
        "FunctionName": "Consumer",
        "StartingPosition": "TRIM_HORIZON",
        **props,
    }
    poller = StreamPoller(ctx, "Mapping", properties, TtlDeletions(), lambda _table: None)
    poller.start()
    pollers.append(poller)
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)
    return poller, functions


def put(ctx: RuntimeContext, table: str, *keys: str) -> None:
    for key in keys:
        ctx.aws("dynamodb").put_item(TableName=table, Item={"pk": {"S": key}})


def keys_of(event: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]


def test_batches_respect_batch_size_and_order(make_ctx: Callable[..., RuntimeContext], pollers: list) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, *(f"k{i}" for i in range(7)))
    poller, functions = start_mapping(ctx, pollers, table, BatchSize=3)
    wait_for(lambda: poller.counts["delivered"] == 7)
    calls = functions.of("Consumer")
    assert [keys_of(c) for c in calls] == [["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6"]]
    record = calls[0]["Records"][0]
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert (
        record["eventSourceARN"]
        == ctx.aws("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    )
    assert record["dynamodb"]["NewImage"] == {"pk": {"S": "k0"}}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert "userIdentity" not in record


def test_filter_drops_records_and_moves_past_them(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, "OUTBOX#1", "OTHER#1", "OUTBOX#2")
    pattern = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}}
    poller, functions = start_mapping(
        ctx, pollers, table, BatchSize=10, FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]}
    )
    wait_for(lambda: poller.counts["read"] == 3 and poller.counts["delivered"] == 2)
    assert [k for c in functions.of("Consumer") for k in keys_of(c)] == ["OUTBOX#1", "OUTBOX#2"]
    assert poller.counts["filtered"] == 1
    assert poller.status()["pending"] == 0


def test_latest_skips_what_was_already_there(make_ctx: Callable[..., RuntimeContext], pollers: list) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, "before")
    poller, functions = start_mapping(ctx, pollers, table, StartingPosition="LATEST")
    put(ctx, table, "after")
    wait_for(lambda: poller.counts["delivered"] == 1)
    assert keys_of(functions.of("Consumer")[0]) == ["after"]


@pytest.mark.parametrize("position", ["LATEST", "TRIM_HORIZON"])
def test_records_after_a_cancelled_transaction_still_arrive(
    make_ctx: Callable[..., RuntimeContext], pollers: list, position: str
) -> None:
    """moto restores a deep copy of the table when a transaction is cancelled; the poller must follow."""
    ctx = make_ctx()
    table = create_table(ctx)
    poller, functions = start_mapping(ctx, pollers, table, StartingPosition=position)
    put(ctx, table, "first")
    wait_for(lambda: poller.counts["delivered"] == 1)
    dynamodb = ctx.aws("dynamodb")
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "first"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    put(ctx, table, "second", "third")
    wait_for(lambda: poller.counts["delivered"] == 3)
    delivered = [key for event in functions.of("Consumer") for key in keys_of(event)]
    assert delivered == ["first", "second", "third"]


def test_binary_attributes_arrive_base64_encoded_as_in_lambdas_event(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    poller, functions = start_mapping(ctx, pollers, table)
    item = {"pk": {"S": "bin"}, "blob": {"B": b"\x00\xffkey"}, "blobs": {"BS": [b"a", b"b"]}}
    ctx.aws("dynamodb").put_item(TableName=table, Item=item)
    wait_for(lambda: poller.counts["delivered"] == 1)
    image = functions.of("Consumer")[0]["Records"][0]["dynamodb"]["NewImage"]
    assert image["blob"] == {"B": "AP9rZXk="}
    assert sorted(image["blobs"]["BS"]) == ["YQ==", "Yg=="]
    json.dumps(functions.of("Consumer")[0])


def test_partial_failure_retries_from_the_lowest_failed_record(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, "a", "b", "c", "d")
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)
    answers = iter(["fail-c-then-b", "ok"])

    def handler(event: dict[str, Any]) -> Any:
        if next(answers) == "ok":
            return {"batchItemFailures": []}
        seq = {r["dynamodb"]["Keys"]["pk"]["S"]: r["dynamodb"]["SequenceNumber"] for r in event["Records"]}
        return {"batchItemFailures": [{"itemIdentifier": seq["c"]}, {"itemIdentifier": seq["b"]}]}

    functions.handlers["Consumer"] = handler
    poller, _ = start_mapping(
        ctx, pollers, table, BatchSize=4, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_for(lambda: poller.counts["delivered"] == 4)
    assert [keys_of(c) for c in functions.of("Consumer")] == [["a", "b", "c", "d"], ["b", "c", "d"]]
    assert poller.counts["failed"] == 0


def test_invalid_item_identifier_fails_the_whole_batch(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, "a", "b")
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "no-such-sequence"}]}, None])
    functions.handlers["Consumer"] = lambda event: next(answers)
    poller, _ = start_mapping(
        ctx, pollers, table, BatchSize=2, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    wait_for(lambda: poller.counts["delivered"] == 2)
    assert [keys_of(c) for c in functions.of("Consumer")] == [["a", "b"], ["a", "b"]]


def test_exhausted_retries_go_to_the_on_failure_queue(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    sqs = ctx.aws("sqs")
    queue = sqs.create_queue(QueueName=unique("on-failure"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)

    def handler(event: dict[str, Any]) -> Any:
        if "poison" in keys_of(event):
            raise fail("poison record")
        return None

    functions.handlers["Consumer"] = handler
    put(ctx, table, "poison", "fine")
    poller, _ = start_mapping(
        ctx,
        pollers,
        table,
        BatchSize=1,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    wait_for(lambda: poller.counts["delivered"] == 1 and poller.counts["failed"] == 1)
    assert [keys_of(c) for c in functions.of("Consumer")] == [["poison"]] * 3 + [["fine"]]
    messages = wait_for(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"))
    body = json.loads(messages[0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 3
    assert body["requestContext"]["functionArn"].endswith(":function:Consumer")
    assert body["responseContext"]["functionError"] == "Unhandled"
    info = body["DDBStreamBatchInfo"]
    first = functions.of("Consumer")[0]["Records"][0]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == first["dynamodb"]["SequenceNumber"]
    assert info["batchSize"] == 1
    assert info["streamArn"] == first["eventSourceARN"]


def test_bisect_isolates_the_bad_record(make_ctx: Callable[..., RuntimeContext], pollers: list) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)

    def handler(event: dict[str, Any]) -> Any:
        if "bad" in keys_of(event):
            raise fail()
        return None

    functions.handlers["Consumer"] = handler
    put(ctx, table, "a", "b", "bad", "d")
    poller, _ = start_mapping(
        ctx, pollers, table, BatchSize=4, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0
    )
    wait_for(lambda: poller.counts["delivered"] == 3 and poller.counts["failed"] == 1)
    assert [keys_of(c) for c in functions.of("Consumer")] == [
        ["a", "b", "bad", "d"],
        ["a", "b"],
        ["bad", "d"],
        ["bad"],
        ["d"],
    ]


def test_disabled_mapping_never_invokes(make_ctx: Callable[..., RuntimeContext], pollers: list) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    put(ctx, table, "a")
    poller, functions = start_mapping(ctx, pollers, table, Enabled=False)
    assert poller.status()["enabled"] is False
    assert functions.of("Consumer") == []


def test_batching_window_gathers_records(make_ctx: Callable[..., RuntimeContext], pollers: list) -> None:
    ctx = make_ctx()
    table = create_table(ctx)
    poller, functions = start_mapping(
        ctx, pollers, table, StartingPosition="LATEST", BatchSize=10, MaximumBatchingWindowInSeconds=1
    )
    put(ctx, table, "a", "b", "c")
    wait_for(lambda: poller.counts["delivered"] == 3)
    assert [keys_of(c) for c in functions.of("Consumer")] == [["a", "b", "c"]]


def test_records_older_than_the_maximum_age_are_discarded(
    make_ctx: Callable[..., RuntimeContext], pollers: list
) -> None:
    ctx = make_ctx(speed=600.0)
    table = create_table(ctx)
    sqs = ctx.aws("sqs")
    queue = sqs.create_queue(QueueName=unique("too-old"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    functions = ctx.functions
    assert isinstance(functions, FakeFunctions)

    def always_fail(event: dict[str, Any]) -> Any:
        raise fail()

    functions.handlers["Consumer"] = always_fail
    put(ctx, table, "stuck")
    poller, _ = start_mapping(
        ctx,
        pollers,
        table,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    # Retries are unlimited (-1): only the record's age (60 virtual s = 0.1 s here) ends them.
    wait_for(lambda: poller.counts["failed"] == 1)
    body = json.loads(wait_for(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"))[0]["Body"])
    assert body["requestContext"]["condition"] == "RecordAgeExceeded"
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1
    assert poller.counts["delivered"] == 0
