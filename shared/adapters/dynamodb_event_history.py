"""EventHistory on the one table: the stored event items (shared.adapters.dynamodb_events) read through
their indexes. gsi1: a tenant's events by time; gsi2: by type and time; gsi3: one resource's by sequence.
Every filter is a Query; the filters an index does not key on are FilterExpressions on that Query."""

from __future__ import annotations

import re
import time
from typing import Any

from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_events import (
    OUTBOX_PREFIX,
    history_partition,
    read_sequences,
    resource_key,
    sequence_sort_key,
)
from shared.adapters.dynamodb_table import from_item, get_consistent, translated_errors, value
from shared.events.records import EventPage, EventQuery, StoredEvent
from shared.outbox.records import iso

_EVENT_ID = re.compile(r"evt_[0-9a-z]{24}")
# A GSI follows its table within milliseconds as a rule; a replay reads it again after these pauses (seconds)
# while events it owes are still missing, then answers what it has.
INDEX_CATCH_UP = (0.02, 0.05, 0.1, 0.2)


def stored_event_from_item(item: dict[str, Any]) -> StoredEvent:
    plain = from_item(item)
    return StoredEvent(
        id=plain["event_id"],
        type=plain["event_name"],
        resource_type=plain.get("resource_type", ""),
        resource_id=plain.get("resource_id", ""),
        sequence=int(plain.get("sequence", 0)),
        data=_json_values(plain.get("data", {})),
        created_at=plain["created_at"],
        tenant_id=plain.get("tenant_id"),
        channels=tuple(plain.get("channels", ())),
    )


def _json_values(raw: Any) -> Any:
    """Numbers come back as Decimal: integral ones as int, others as their decimal string."""
    if isinstance(raw, dict):
        return {k: _json_values(v) for k, v in raw.items()}
    if isinstance(raw, list | set | tuple):
        return [_json_values(v) for v in raw]
    if hasattr(raw, "as_integer_ratio") and not isinstance(raw, bool | int):
        return int(raw) if raw == raw.to_integral_value() else str(raw)
    return raw


class DynamoDBEventHistory:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, tenant_id: str, event_id: str) -> StoredEvent | None:
        if not _EVENT_ID.fullmatch(event_id):
            return None
        key = {"pk": {"S": f"{OUTBOX_PREFIX}{event_id}"}, "sk": {"S": "EVENT"}}
        item = get_consistent(self._client, self._table, key)
        if item is None or item.get("tenant_id", {}).get("S") != tenant_id:
            return None
        return stored_event_from_item(item)

    def page(self, query: EventQuery) -> EventPage:
        index, partition, by_time = self._index_for(query)
        names = {"#pk": f"{index}pk"}
        values: dict[str, Any] = {":pk": value(partition)}
        condition = "#pk = :pk"
        filters: list[str] = []
        gte = iso(query.created_gte) if query.created_gte else None
        lt = iso(query.created_lt) if query.created_lt else None
        if by_time and (gte or lt):
            names["#sk"] = f"{index}sk"
            if gte and lt:
                # Sort keys are `<time>#<id>`: one at exactly `lt` sorts above `lt` itself, so it stays out.
                condition += " AND #sk BETWEEN :gte AND :lt"
            else:
                condition += " AND #sk >= :gte" if gte else " AND #sk < :lt"
        elif gte or lt:
            names["#created"] = "created_at"
            if gte:
                filters.append("#created >= :gte")
            if lt:
                filters.append("#created < :lt")
        if gte:
            values[":gte"] = value(gte)
        if lt:
            values[":lt"] = value(lt)
        if query.type is not None and index != "gsi2":
            names["#type"] = "event_name"
            values[":type"] = value(query.type)
            filters.append("#type = :type")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": query.limit,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        key_names = ("pk", "sk", f"{index}pk", f"{index}sk")
        if query.cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(
                query.cursor, key_names, lambda plain: plain[f"{index}pk"] == partition
            )
        items, last = self._query_until_full(kwargs)
        next_cursor = encode_cursor(last, key_names) if last is not None else None
        return EventPage([stored_event_from_item(i) for i in items], next_cursor)

    def after(self, tenant_id: str, resource_id: str, after_sequence: int, limit: int) -> list[StoredEvent]:
        kwargs = {
            "TableName": self._table,
            "IndexName": "gsi3",
            "KeyConditionExpression": "gsi3pk = :pk AND gsi3sk > :after",
            "ExpressionAttributeValues": {
                ":pk": value(history_partition(tenant_id, f"RES#{resource_id}")),
                ":after": value(sequence_sort_key(max(after_sequence, 0))),
            },
            "ScanIndexForward": True,
        }
        found: list[StoredEvent] = []
        while len(found) < limit:
            with translated_errors():
                response = self._client.query(**kwargs, Limit=limit - len(found))
            found += [stored_event_from_item(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def latest_sequence(self, tenant_id: str, resource_type: str, resource_id: str) -> int:
        key = resource_key(tenant_id, resource_type, resource_id)
        return read_sequences(self._client, self._table, [key]).get(key, 0)

    def replay(
        self, tenant_id: str, resource_id: str, after_sequence: int, through_sequence: int
    ) -> list[StoredEvent]:
        if through_sequence <= after_sequence:
            return []
        owed = through_sequence - after_sequence
        found = self._sequence_range(tenant_id, resource_id, after_sequence, through_sequence)
        for pause in INDEX_CATCH_UP:
            if len(found) >= owed:
                break
            time.sleep(pause)
            found = self._sequence_range(tenant_id, resource_id, after_sequence, through_sequence)
        return found

    def _sequence_range(
        self, tenant_id: str, resource_id: str, after: int, through: int
    ) -> list[StoredEvent]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi3",
            "KeyConditionExpression": "gsi3pk = :pk AND gsi3sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": value(history_partition(tenant_id, f"RES#{resource_id}")),
                ":low": value(sequence_sort_key(after + 1)),
                ":high": value(sequence_sort_key(through)),
            },
            "ScanIndexForward": True,
        }
        found: list[StoredEvent] = []
        while True:
            with translated_errors():
                response = self._client.query(**kwargs)
            found += [stored_event_from_item(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _query_until_full(self, kwargs: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Filters apply after Limit, so keep reading (a bounded number of times) until the page is full."""
        limit = kwargs["Limit"]
        items: list[dict[str, Any]] = []
        for _ in range(10):
            with translated_errors():
                response = self._client.query(**kwargs)
            items += response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if last is None:
                return items[:limit], None
            if len(items) >= limit:
                break
            kwargs["ExclusiveStartKey"] = last
            kwargs["Limit"] = limit - len(items)
        items = items[:limit]
        return items, items[-1] if items else last

    @staticmethod
    def _index_for(query: EventQuery) -> tuple[str, str, bool]:
        """The index, its partition, and whether its sort key is time (else a sequence)."""
        if query.resource_id is not None:
            return "gsi3", history_partition(query.tenant_id, f"RES#{query.resource_id}"), False
        if query.type is not None:
            return "gsi2", history_partition(query.tenant_id, f"TYPE#{query.type}"), True
        return "gsi1", history_partition(query.tenant_id), True
