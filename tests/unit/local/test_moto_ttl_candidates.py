"""The TTL sweeper's direct read of moto's in-process backend gives what its Scan gave: the keys and TTL value
of every item whose numeric TTL lies in the window, and nothing else (no TTL, a string TTL, outside it)."""

from __future__ import annotations

import uuid

from local.runtime.resources import Moto


def test_ttl_candidates_match_the_window_without_a_scan() -> None:
    moto = Moto()
    moto.start()
    try:
        client = moto.client("dynamodb")
        table = f"ttl-{uuid.uuid4().hex[:8]}"
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        items = {
            "due": {"N": "100"},
            "edge": {"N": "200"},
            "later": {"N": "201"},
            "text": {"S": "150"},
            "old": {"N": "5"},
        }
        for name, ttl in items.items():
            client.put_item(TableName=table, Item={"pk": {"S": name}, "sk": {"S": "A"}, "ttl": ttl})
        client.put_item(TableName=table, Item={"pk": {"S": "none"}, "sk": {"S": "A"}})
        found = moto.ttl_candidates(table, "ttl", 10, 200)
        assert found is not None
        assert sorted((keys["pk"]["S"], keys["sk"]["S"], ttl["N"]) for keys, ttl in found) == [
            ("due", "A", "100"),
            ("edge", "A", "200"),
        ]
        assert moto.ttl_candidates("no-such-table", "ttl", 0, 1) == []
    finally:
        moto.stop()
