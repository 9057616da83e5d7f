"""Domain events on the table: the outbox/history item, and the per-resource sequence assigned in the
same TransactWriteItems as the state change the event describes.

Why a per-resource counter item (`SEQ#<type>#<id>`) updated with a condition on the value read, rather than
the resource item's own version: not every event's resource has an item that its transaction bumps (a
consumer's `balance:updated` rides a ledger posting; a provider event rides a health record), and two
events of one resource can ride two different items' transactions (a wallet's `wallet:funded` commits on the
funding claim, its `wallet:destroyed` on the destruction progress). One counter per resource serializes
them all. The counter is read (strongly consistent, one BatchGetItem round trip), then the transaction
carries `SET sequence = :read + n` conditioned on `sequence = :read` (or its absence), so two writers that
read the same value cannot both commit: DynamoDB serializes transactions touching one item, the loser's
condition fails. When only counter conditions failed, the state change itself was still valid, so the
transaction is re-sent with fresh counters; any other failed condition is the caller's to interpret, exactly
as before. Sequences are therefore gap-free (1, 2, 3, ...) and strictly increasing per resource: a
consumer that holds 1..n knows it misses nothing. The cost on the write path is one extra item in the same
transaction (no extra write round trip) and one consistent read before it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_table import translated_errors
from shared.outbox.records import EVENT_RETENTION, DomainEvent, iso

OUTBOX_PREFIX = "OUTBOX#"
COUNTER_PREFIX = "SEQ#"
# Re-sends when only counters moved: each loser re-reads and tries again; a resource hot enough to lose
# this many times in a row is refused as ConcurrentUpdate, as any other contended item is.
SEQUENCE_ATTEMPTS = 12
SEQUENCE_WIDTH = 12


def resource_key(tenant_id: str | None, resource_type: str, resource_id: str) -> str:
    """The counter's key: per tenant, since ids such as a consumer's `sub` are unique only in one tenant."""
    return f"{tenant_id or '-'}#{resource_type}#{resource_id}"


def history_partition(tenant_id: str, suffix: str = "") -> str:
    """gsi1: a tenant's events by time; gsi2 (suffix = type): by type and time; gsi3 (suffix = resource id):
    one resource's events by sequence."""
    return f"EVT#{tenant_id}" + (f"#{suffix}" if suffix else "")


def time_sort_key(created_at: str, event_id: str) -> str:
    return f"{created_at}#{event_id}"


def sequence_sort_key(sequence: int) -> str:
    return f"{sequence:0{SEQUENCE_WIDTH}d}"


def event_item(event: DomainEvent) -> dict[str, Any]:
    """The stored event: the stream publishes its INSERT (the outbox), the history indexes read it for 90
    days (TTL), and `sequence` (with gsi3sk) is filled in by `transact_write`."""
    created = iso(event.created_at)
    item: dict[str, Any] = {
        "pk": f"{OUTBOX_PREFIX}{event.id}",
        "sk": "EVENT",
        "event_id": event.id,
        "event_name": event.name,
        "channels": list(event.channels),
        "data": event.data,
        "created_at": created,
        "resource_type": event.resource.type,
        "resource_id": event.resource.id,
        "resource_key": resource_key(event.tenant_id, event.resource.type, event.resource.id),
        "tenant_id": event.tenant_id,
        "ttl": int((event.created_at + EVENT_RETENTION).timestamp()),
    }
    if event.tenant_id is not None:
        item["gsi1pk"] = history_partition(event.tenant_id)
        item["gsi1sk"] = time_sort_key(created, event.id)
        item["gsi2pk"] = history_partition(event.tenant_id, f"TYPE#{event.name}")
        item["gsi2sk"] = time_sort_key(created, event.id)
        item["gsi3pk"] = history_partition(event.tenant_id, f"RES#{event.resource.id}")
    return item


def counter_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"{COUNTER_PREFIX}{key}"}, "sk": {"S": "SEQ"}}


def transact_write(client: Any, operations: Sequence[dict[str, Any]]) -> None:
    """`client.transact_write_items(TransactItems=operations)`, with every event Put in it sequenced.

    Counter updates are appended after the caller's operations, so the positions a caller reads from a
    cancellation (shared.adapters.dynamodb_table.failed_conditions) still name its own operations.
    ClientError propagates as the plain call's would.
    """
    events = _event_items(operations)
    if not events:
        client.transact_write_items(TransactItems=list(operations))
        return
    table = _event_table(operations)
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for item in events:
        by_resource.setdefault(item["resource_key"]["S"], []).append(item)
    for attempt in range(SEQUENCE_ATTEMPTS):
        current = read_sequences(client, table, list(by_resource))
        counters = [_assign(table, key, items, current.get(key, 0)) for key, items in by_resource.items()]
        try:
            client.transact_write_items(TransactItems=[*operations, *counters])
            return
        except ClientError as exc:
            if not _only_counters_lost(exc, len(operations)) or attempt == SEQUENCE_ATTEMPTS - 1:
                raise
        # A short jittered pause spreads the writers of one hot resource apart.
        time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 (jitter, not a secret)


def read_sequences(client: Any, table: str, keys: list[str]) -> dict[str, int]:
    """The current sequence of each resource key (absent: none assigned yet), strongly consistent."""
    found: dict[str, int] = {}
    pending: dict[str, Any] = {table: {"Keys": [counter_key(k) for k in keys], "ConsistentRead": True}}
    while pending:
        with translated_errors():
            response = client.batch_get_item(RequestItems=pending)
        for item in response.get("Responses", {}).get(table, []):
            found[item["pk"]["S"].removeprefix(COUNTER_PREFIX)] = int(item["sequence"]["N"])
        pending = response.get("UnprocessedKeys") or {}
    return found


def _event_items(operations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        op["Put"]["Item"]
        for op in operations
        if "Put" in op
        and op["Put"]["Item"].get("pk", {}).get("S", "").startswith(OUTBOX_PREFIX)
        and "resource_key" in op["Put"]["Item"]
    ]


def _event_table(operations: Sequence[dict[str, Any]]) -> str:
    for op in operations:
        put = op.get("Put")
        if put is not None and put["Item"].get("pk", {}).get("S", "").startswith(OUTBOX_PREFIX):
            table: str = put["TableName"]
            return table
    raise ValueError("no event in the operations")


def _assign(table: str, key: str, items: list[dict[str, Any]], read: int) -> dict[str, Any]:
    sequence = read
    for item in items:
        sequence += 1
        item["sequence"] = {"N": str(sequence)}
        if "gsi3pk" in item:
            item["gsi3sk"] = {"S": sequence_sort_key(sequence)}
    update: dict[str, Any] = {
        "TableName": table,
        "Key": counter_key(key),
        "UpdateExpression": "SET #seq = :next",
        "ExpressionAttributeNames": {"#seq": "sequence"},
        "ExpressionAttributeValues": {":next": {"N": str(sequence)}},
    }
    if read == 0:
        update["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        update["ConditionExpression"] = "#seq = :read"
        update["ExpressionAttributeValues"][":read"] = {"N": str(read)}
    return {"Update": update}


def _only_counters_lost(exc: ClientError, own: int) -> bool:
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons", [])
    lost = {
        index
        for index, reason in enumerate(reasons)
        if reason.get("Code") in ("ConditionalCheckFailed", "TransactionConflict")
    }
    return bool(lost) and min(lost) >= own
