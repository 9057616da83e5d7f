"""The runtime's Query for moto: the same pages as moto's own for table and index queries, reading only the
partition asked for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from local.runtime import moto_queries

TABLE = "t"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in (("pk", "S"), ("sk", "S"), ("g1pk", "S"), ("g1sk", "S"), ("g2pk", "N"))
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi1",
                    "KeySchema": [
                        {"AttributeName": "g1pk", "KeyType": "HASH"},
                        {"AttributeName": "g1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                },
                {
                    "IndexName": "gsi2",
                    "KeySchema": [{"AttributeName": "g2pk", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(60):
            item = {"pk": {"S": f"P#{n % 4}"}, "sk": {"S": f"S#{n:03d}"}, "n": {"N": str(n)}}
            if n % 3:
                item |= {"g1pk": {"S": f"G#{n % 2}"}, "g1sk": {"S": f"{n % 5}"}}  # ties on g1sk
            if n % 5 == 0:
                item["g2pk"] = {"N": "7" if n % 2 else "7.0"}
            client.put_item(TableName=TABLE, Item=item)
        yield client


QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#1"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#9"}}},
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "P#2"}, ":a": {"S": "S#010"}, ":b": {"S": "S#040"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":p": {"S": "P#0"}, ":n": {"N": "20"}},
        "Limit": 4,
    },
    {
        "IndexName": "gsi1",
        "KeyConditionExpression": "g1pk = :g",
        "ExpressionAttributeValues": {":g": {"S": "G#1"}},
        "Limit": 7,
    },
    {
        "IndexName": "gsi1",
        "KeyConditionExpression": "g1pk = :g AND begins_with(g1sk, :s)",
        "ExpressionAttributeValues": {":g": {"S": "G#0"}, ":s": {"S": "2"}},
        "ScanIndexForward": False,
    },
    {
        "IndexName": "gsi2",
        "KeyConditionExpression": "g2pk = :g",
        "ExpressionAttributeValues": {":g": {"N": "7"}},
    },
]


def pages(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of the query, followed through LastEvaluatedKey."""
    request: dict[str, Any] = {"TableName": TABLE, **query}
    answers = []
    while True:
        answer = client.query(**request)
        answers.append({k: answer.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        if "LastEvaluatedKey" not in answer:
            return answers
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.get("IndexName", "table"))
def test_the_same_pages_as_moto(
    dynamodb: Any, query: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Table, "query", moto_queries._moto_query)
    expected = pages(dynamodb, query)
    monkeypatch.setattr(Table, "query", moto_queries.query)
    assert pages(dynamodb, query) == expected
    found = [item for page in expected for item in page["Items"]]
    assert found or query["ExpressionAttributeValues"].get(":p") == {"S": "P#9"}


def test_a_table_query_reads_only_its_partition(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Table, "query", moto_queries.query)

    def every_item(table: Table) -> list[Any]:
        raise AssertionError("the whole table was listed")

    monkeypatch.setattr(Table, "all_items", every_item)
    answer = dynamodb.query(
        TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "P#3"}}
    )
    assert [item["sk"]["S"] for item in answer["Items"]] == [f"S#{n:03d}" for n in range(3, 60, 4)]


def test_install_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Table, "query", moto_queries._moto_query)
    moto_queries.install()
    moto_queries.install()
    assert Table.query is moto_queries.query
