"""Per-resource event sequences assigned in the state change's own transaction (dynamodb_events), against
moto with real threads: never equal, never out of commit order, gap-free, and a lost state condition
is still the caller's (nothing written, not retried)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.adapters.dynamodb_events import read_sequences, resource_key, transact_write
from shared.adapters.dynamodb_table import failed_conditions, put_new
from shared.outbox.records import Resource, domain_event
from tests.integration.conftest import TABLE, scan_all

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class CommitLog:
    """Each DynamoDB call atomic (as the service is; moto in-process is not thread-safe), and the event ids
    of every committed transaction in commit order."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.commits: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                result = method(*args, **kwargs)
                if name == "transact_write_items":
                    puts = [op["Put"]["Item"] for op in kwargs["TransactItems"] if "Put" in op]
                    self.commits.append([i["event_id"]["S"] for i in puts if "event_id" in i])
                return result

        return call


def wallet_event(name: str, wallet_id: str = "wal_x", tenant: str = "ten_a") -> Any:
    return domain_event(
        name, [f"wallet:{wallet_id}"], {"tenant_id": tenant}, NOW, resource=Resource("wallet", wallet_id)
    )


def state_change(n: int) -> dict[str, Any]:
    """The state item's own (unconditional) change: every writer touches the same resource."""
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "STATE#wal_x"}, "sk": {"S": "STATE"}},
            "UpdateExpression": "ADD writes :one SET last_writer = :n",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":n": {"N": str(n)}},
        }
    }


def events_by_id(client: Any) -> dict[str, dict[str, Any]]:
    return {i["event_id"]["S"]: i for i in scan_all(client) if i["pk"]["S"].startswith("OUTBOX#")}


def test_concurrent_changes_of_one_resource_get_distinct_sequences_in_commit_order(dynamodb: Any) -> None:
    log = CommitLog(dynamodb)
    start = threading.Barrier(16)

    def write(n: int) -> None:
        start.wait()
        # Two events per change: they must take two consecutive numbers.
        events = [wallet_event("wallet:funded"), wallet_event("payment:received")]
        transact_write(log, [state_change(n), *(put_new(TABLE, e) for e in events)])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(write, range(16)))

    stored = events_by_id(dynamodb)
    in_commit_order = [int(stored[e]["sequence"]["N"]) for commit in log.commits for e in commit]
    assert len(in_commit_order) == 32
    assert in_commit_order == list(range(1, 33))  # strictly increasing with commits, gap-free, none equal
    assert read_sequences(dynamodb, TABLE, [resource_key("ten_a", "wallet", "wal_x")]) == {
        resource_key("ten_a", "wallet", "wal_x"): 32
    }
    first = next(i for i in stored.values() if i["sequence"]["N"] == "1")
    assert first["gsi3pk"]["S"] == "EVT#ten_a#RES#wal_x"
    assert first["gsi3sk"]["S"] == "000000000001"


def test_resources_and_tenants_count_apart(dynamodb: Any) -> None:
    transact_write(dynamodb, [state_change(1), put_new(TABLE, wallet_event("a", "wal_x", "ten_a"))])
    transact_write(dynamodb, [state_change(2), put_new(TABLE, wallet_event("b", "wal_x", "ten_b"))])
    transact_write(dynamodb, [state_change(3), put_new(TABLE, wallet_event("c", "wal_y", "ten_a"))])
    transact_write(dynamodb, [state_change(4), put_new(TABLE, wallet_event("d", "wal_x", "ten_a"))])
    sequences = {i["event_name"]["S"]: int(i["sequence"]["N"]) for i in events_by_id(dynamodb).values()}
    assert sequences == {"a": 1, "b": 1, "c": 1, "d": 2}


def test_a_lost_state_condition_is_the_callers_and_writes_nothing(dynamodb: Any) -> None:
    guarded = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "STATE#absent"}, "sk": {"S": "STATE"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError) as caught:
        transact_write(dynamodb, [guarded, put_new(TABLE, wallet_event("wallet:funded"))])
    assert failed_conditions(caught.value) == {0}
    assert scan_all(dynamodb) == []


def test_transactions_without_events_pass_through_untouched(dynamodb: Any) -> None:
    transact_write(dynamodb, [state_change(1)])
    assert [i["pk"]["S"] for i in scan_all(dynamodb)] == ["STATE#wal_x"]
