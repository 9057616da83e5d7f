"""The runtime's cheaper moto paths answer as moto does: GetRecords bodies, EventBridge input templates and
the backend a request goes to."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import jsonpath_ng.ext
import pytest
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.events.utils import EventTemplateParser

from local.runtime import moto_hot_paths
from tests.support.moto_server import client


@pytest.fixture
def tables(moto_url: str) -> Iterator[tuple[Any, Any, str]]:
    dynamodb = client("dynamodb", moto_url)
    name = f"t{uuid.uuid4().hex}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    yield dynamodb, client("dynamodbstreams", moto_url), name
    dynamodb.delete_table(TableName=name)


def read_stream(streams: Any, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw JSON body of one GetRecords from the start of the shard, and what botocore parsed."""
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    bodies: list[bytes] = []
    streams.meta.events.register(
        "after-call.dynamodb-streams.GetRecords",
        lambda http_response, **_: bodies.append(http_response.content),
    )
    parsed = streams.get_records(ShardIterator=iterator["ShardIterator"])
    return json.loads(bodies[-1]), parsed


def without_iterator(answer: dict[str, Any]) -> dict[str, Any]:
    """The next iterator is random on every call; everything else must match."""
    return {k: v for k, v in answer.items() if k not in ("NextShardIterator", "ResponseMetadata")}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_get_records_answers_as_moto(
    tables: tuple[Any, Any, str], binary: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, streams, table = tables
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    item = {
        "pk": {"S": "INV#1"},
        "amount": {"N": "324.75"},
        "lines": {"L": [{"M": {"qty": {"N": "2"}, "tags": {"SS": ["a", "b"]}, "paid": {"BOOL": False}}}]},
        "note": {"NULL": True},
    }
    if binary:
        item["key"] = {"B": b"\x00\x01secret"}
    dynamodb.put_item(TableName=table, Item=item)
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "INV#1"}},
        UpdateExpression="SET amount = :t",
        ExpressionAttributeValues={":t": {"N": "1"}},
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "INV#1"}})

    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_hot_paths._moto_get_records)
    expected_body, expected = read_stream(streams, arn)
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_hot_paths.get_records)
    body, parsed = read_stream(streams, arn)

    assert [r["eventName"] for r in expected["Records"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert without_iterator(body) == without_iterator(expected_body)
    assert without_iterator(parsed) == without_iterator(expected)


def test_input_paths_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_hot_paths._moto_get_records)
    monkeypatch.setattr(jsonpath_ng.ext, "parse", moto_hot_paths._moto_jsonpath)
    event: dict[str, Any] = {
        "version": "0",
        "id": "e-1",
        "detail-type": "invoice.paid",
        "source": "monay.wallets",
        "account": "123456789012",
        "time": "2030-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"invoice_id": "inv_1", "amount": "324.75"},
        "ingestion-time": 1893499200.0,
    }
    template = '{"invoice": "<id>", "event": <aws.events.event.json>}'
    expected = EventTemplateParser.parse(template, {"id": "$.detail.invoice_id"}, event)

    moto_hot_paths.install()
    parsers: list[str] = []
    cached = jsonpath_ng.ext.parse

    def counted(path: str) -> Any:
        parsers.append(path)
        return cached(path)

    monkeypatch.setattr(jsonpath_ng.ext, "parse", counted)
    answers = [EventTemplateParser.parse(template, {"id": "$.detail.invoice_id"}, event) for _ in range(3)]

    assert answers == [expected] * 3 and expected["invoice"] == "inv_1"
    assert cached.cache_info().misses == 1  # type: ignore[attr-defined]
    assert parsers == ["$.detail.invoice_id"] * 3


def test_backends_are_found_as_moto_finds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_hot_paths._moto_get_records)
    monkeypatch.setattr(jsonpath_ng.ext, "parse", moto_hot_paths._moto_jsonpath)
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", moto.backends.list_of_moto_modules)
    monkeypatch.setattr(
        DomainDispatcherApplication, "get_backend_for_host", moto_hot_paths._moto_backend_for_host
    )
    hosts = [
        None,
        "moto_api",
        "dynamodb",
        "dynamodbstreams",
        "sqs.us-east-1.amazonaws.com",
        "events.us-east-1.amazonaws.com",
        "scheduler.us-east-1.amazonaws.com",
        "kms.eu-west-1.amazonaws.com",
        "nothing.example.com",
    ]
    plain = DomainDispatcherApplication(create_backend_app)
    expected = [plain.get_backend_for_host(host) for host in hosts]

    moto_hot_paths.install()
    listed: list[int] = []
    monkeypatch.setattr("os.listdir", lambda path: listed.append(1) or [])
    dispatcher = DomainDispatcherApplication(create_backend_app)
    assert [dispatcher.get_backend_for_host(host) for host in hosts * 2] == expected * 2
    assert expected[2:5] == ["dynamodb", "dynamodbstreams", "sqs"]
    assert listed == []  # moto's package folder is not listed again per request
