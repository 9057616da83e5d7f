"""moto's server as the runtime runs it keeps each client connection for the next request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import urllib3.connection

from tests.support.moto_server import client


def test_one_connection_serves_many_requests(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dynamodb, sqs = client("dynamodb", moto_url), client("sqs", moto_url)
    table = f"t{uuid.uuid4().hex}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName=f"q{uuid.uuid4().hex}")["QueueUrl"]
    opened: list[int] = []
    new_conn = urllib3.connection.HTTPConnection._new_conn

    def counted(self: Any) -> Any:
        opened.append(1)
        return new_conn(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counted)
    for i in range(10):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "body": {"S": "x" * 2000 * i}})
        assert (
            dynamodb.get_item(TableName=table, Key={"pk": {"S": f"k{i}"}})["Item"]["body"]["S"]
            == "x" * 2000 * i
        )
        sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.get_item(TableName="no-such-table", Key={"pk": {"S": "k"}})
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 10
    # Kept after errors too; werkzeug's own path opened one connection per request (31 here).
    assert len(opened) == 0
