"""The runtime's TransactWriteItems for moto: all or nothing, conditions on the state before, stream records
only for what committed, and a cost that does not grow with the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.runtime import moto_transactions

TABLE = "t"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_transactions.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def put(pk: str, **extra: Any) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": "A"}, **extra}
    return {"Put": {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


def bump(pk: str, expression: str = "SET n = n + :one") -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": pk}, "sk": {"S": "A"}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def items(client: Any) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in client.scan(TableName=TABLE)["Items"]}


def stream_records(client: Any) -> int:
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com",
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


def test_a_failed_condition_writes_nothing_and_streams_nothing(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[put("a", n={"N": "1"})])
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=[put("b"), bump("c", "SET m = :one"), put("a")])
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert set(items(dynamodb)) == {"a"} and items(dynamodb)["a"]["n"] == {"N": "1"}
    assert stream_records(dynamodb) == 1


def test_conditions_see_the_state_before_the_transaction(dynamodb: Any) -> None:
    check = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "b"}, "sk": {"S": "A"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    dynamodb.transact_write_items(TransactItems=[put("a", n={"N": "1"}), check])
    assert set(items(dynamodb)) == {"a"}


def test_a_failure_while_writing_is_undone_with_its_stream_records(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[put("a", n={"N": "1"}), put("s", n={"S": "text"})])
    # The string attribute cannot be incremented: found only while writing, after `b` and `a` were written.
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put("b"), bump("a"), bump("s")])
    assert set(items(dynamodb)) == {"a", "s"} and items(dynamodb)["a"]["n"] == {"N": "1"}
    assert stream_records(dynamodb) == 2


def test_one_item_twice_is_refused(dynamodb: Any) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        dynamodb.transact_write_items(TransactItems=[put("a"), bump("a")])
    assert items(dynamodb) == {}
