"""The cost bench's DynamoDB meter: request units from item sizes measured in moto."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.dynamodb_meter import metering

TABLE = "MeterTable"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield dynamodb


def test_a_transactional_put_costs_two_per_kb_plus_its_index_and_reports_outbox_items(client: Any) -> None:
    big = {"pk": {"S": "WALLET#1"}, "sk": {"S": "META"}, "blob": {"S": "x" * 1500}}
    indexed = {**big, "gsi1pk": {"S": "T#1"}, "gsi1sk": {"S": "W#1"}}
    event = {"pk": {"S": "OUTBOX#evt_1"}, "sk": {"S": "EVENT"}, "name": {"S": "wallet:created"}}
    with metering(boto3.client("dynamodb", region_name="us-east-1")) as meter:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": indexed}},
                {"Put": {"TableName": TABLE, "Item": event}},
            ]
        )
    # 2 KB item: 4 transactional + 2 for gsi1; the small outbox item: 2.
    assert meter.write_units["TransactWriteItems"] == 8
    assert [[item["pk"]["S"] for item in batch] for batch in meter.outbox_batches] == [["OUTBOX#evt_1"]]


def test_reads_by_consistency_and_a_resource_table_measured_alike(client: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE)
    table.put_item(Item={"pk": "A", "sk": "1", "blob": "y" * 5000})
    with metering(boto3.client("dynamodb", region_name="us-east-1")) as meter:
        table.get_item(Key={"pk": "A", "sk": "1"}, ConsistentRead=True)  # 5 KB strongly: 2
        client.get_item(TableName=TABLE, Key={"pk": {"S": "A"}, "sk": {"S": "1"}})  # eventually: 1
        client.get_item(TableName=TABLE, Key={"pk": {"S": "none"}, "sk": {"S": "1"}})  # missing: 0.5
        table.update_item(
            Key={"pk": "A", "sk": "1"}, UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": 1}
        )
    assert meter.read_units["GetItem"] == Decimal("3.5")
    assert meter.write_units["UpdateItem"] == 5  # the larger of before and after, 1 KB each
