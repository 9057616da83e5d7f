"""The audit trail and destruction logs read per tenant: Queries on the entity's partition or the tenant's
list (gsi1) or the tenant's actor list (gsi2), as shared/adapters/dynamodb_audit_entries.py keys them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_audit_entries import (
    AUDIT_PREFIX,
    actor_partition,
    audit_entry_of,
    entity_partition,
    tenant_partition,
)
from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_table import from_item, get_consistent, translated_errors
from shared.destruction.ports import DestructionLog
from shared.enterprise.ports import (
    AuditPage,
    AuditQuery,
    DestructionLogPage,
    StoredDestructionLog,
)
from shared.outbox.records import iso

_MAX_QUERIES_PER_PAGE = 10


def destruction_logs_partition(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#DESTRUCTIONLOGS"


class DynamoDBAuditTrail:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def page(self, query: AuditQuery) -> AuditPage:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters: list[str] = []
        if query.resource_id is not None:
            index, pk_name, sk_name = None, "pk", "sk"
            partition = entity_partition(query.resource_id)
            # The entity's entries are every tenant's that touched it: only the caller's are shown.
            filters.append("#tenant = :tenant")
            names["#tenant"] = "tenant_id"
            values[":tenant"] = {"S": query.tenant_id}
            if query.actor is not None:
                filters.append("#actor = :actor")
                names["#actor"] = "actor"
                values[":actor"] = {"S": query.actor}
        elif query.actor is not None:
            index, pk_name, sk_name = "gsi2", "gsi2pk", "gsi2sk"
            partition = actor_partition(query.tenant_id, query.actor)
        else:
            index, pk_name, sk_name = "gsi1", "gsi1pk", "gsi1sk"
            partition = tenant_partition(query.tenant_id)
        condition = f"{pk_name} = :partition"
        values[":partition"] = {"S": partition}
        if query.since is not None:
            condition += f" AND {sk_name} >= :since"
            values[":since"] = {"S": iso(query.since)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if index:
            request["IndexName"] = index
        if names:
            request["ExpressionAttributeNames"] = names
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        key_names = ("pk", "sk") if index is None else ("pk", "sk", pk_name, sk_name)

        def issued_here(plain: dict[str, str]) -> bool:
            return plain[key_names[-2]] == partition and plain["pk"].startswith(AUDIT_PREFIX)

        start = decode_cursor(query.cursor, key_names, issued_here) if query.cursor else None
        items, cursor = _collect(self._client, request, start, query.limit, key_names)
        return AuditPage([audit_entry_of(from_item(item)) for item in items], cursor)


class DynamoDBDestructionLogs:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, wallet_id: str) -> StoredDestructionLog | None:
        key = {"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "DESTRUCTIONLOG"}}
        item = get_consistent(self._client, self._table, key)
        return _log(item) if item else None

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> DestructionLogPage:
        partition = destruction_logs_partition(tenant_id)
        key_names = ("pk", "sk", "gsi1pk", "gsi1sk")
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": partition}},
            "ScanIndexForward": False,
        }

        def issued_here(plain: dict[str, str]) -> bool:
            return plain["gsi1pk"] == partition and plain["sk"] == "DESTRUCTIONLOG"

        start = decode_cursor(cursor, key_names, issued_here) if cursor else None
        items, next_cursor = _collect(self._client, request, start, limit, key_names)
        return DestructionLogPage([_log(item) for item in items], next_cursor)


def _collect(
    client: Any,
    request: dict[str, Any],
    start: dict[str, Any] | None,
    limit: int,
    key_names: tuple[str, ...],
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` items (a filter may thin pages out: a few queries at most) and the next page's cursor."""
    collected: list[dict[str, Any]] = []
    for _ in range(_MAX_QUERIES_PER_PAGE):
        page_request = dict(request, Limit=limit + 1 - len(collected))
        if start:
            page_request["ExclusiveStartKey"] = start
        with translated_errors():
            response = client.query(**page_request)
        collected.extend(response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if len(collected) > limit or not start:
            break
    items = collected[:limit]
    more = len(collected) > limit or start is not None
    cursor = None
    if more and items:
        cursor = encode_cursor(items[-1], key_names)
    elif more and start:
        cursor = encode_cursor(start, key_names)
    return items, cursor


def _log(item: dict[str, Any]) -> StoredDestructionLog:
    values = from_item(item)
    return StoredDestructionLog(
        log=DestructionLog(values["wallet_id"], values["record"], values["verification_hash"]),
        tenant_id=values["tenant_id"],
        created_at=datetime.fromisoformat(values["created_at"]),
    )
