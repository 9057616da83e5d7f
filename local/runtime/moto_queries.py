"""Query for moto 5.2 at the cost of the partition it reads, not of the whole table.

Why: moto 5.2.5's `Table.query` starts from `all_items()`, which lists and sorts every item of the table
(DynamoType comparisons in Python), then keeps the partition asked for. A Query therefore costs
O(table x log table) and runs under the runtime's DynamoDB lock (`resources._AtomicDynamoDB`): as a local
session writes invoices, outbox records and stream consumers' rows, every Query (each API list, each realtime
fan-out over the subscriptions index) slows every other DynamoDB request down with it.

Same results: moto's own `query` still runs, on a view of the table whose `all_items()` holds only the
candidates: the hash key's partition for a table query; for an index query, the items whose string or binary
index hash attributes equal the condition's (any other type keeps every item). moto then checks each
condition itself and sorts the candidates by the full index and table key, which no two items share, so
their order before that sort does not matter. Installed by the local runtime; production never imports this.
"""

from __future__ import annotations

import inspect
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_moto_query = Table.query
_SIGNATURE = inspect.signature(_moto_query)


def install() -> None:
    """Replace moto's implementation (idempotent)."""
    if getattr(Table.query, "_partition_only", False):
        return
    Table.query = query  # type: ignore[method-assign]


class _Candidates:
    """The table as moto's query sees it, with `all_items()` narrowed to the candidates."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table = table
        self._items = items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        return self._items


def query(self: Table, *args: Any, **kwargs: Any) -> Any:
    call = _SIGNATURE.bind(self, *args, **kwargs).arguments
    if call.get("index_name"):
        candidates = _index_candidates(self, call.get("hash_key_conditions") or [])
    else:
        candidates = _partition(self, call["hash_key"])
    if candidates is None:
        return _moto_query(self, *args, **kwargs)
    return _moto_query(_Candidates(self, candidates), *args, **kwargs)  # type: ignore[arg-type]


query._partition_only = True  # type: ignore[attr-defined]


def _partition(table: Table, hash_key: DynamoType | None) -> list[Item] | None:
    if hash_key is None:
        return None
    partition = table.items.get(hash_key)
    if partition is None:
        return []
    if table.range_key_attr:
        return list(partition.values())
    return [partition]  # type: ignore[list-item]


def _index_candidates(table: Table, conditions: list[tuple[str, DynamoType]]) -> list[Item] | None:
    exact = [(name, value.type, value.value) for name, value in conditions if value.type in ("S", "B")]
    if not exact:
        return None
    candidates = []
    for item in every_item(table):
        for name, kind, value in exact:
            attribute = item.attrs.get(name)
            if attribute is None or attribute.type != kind or attribute.value != value:
                break
        else:
            candidates.append(item)
    return candidates


def every_item(table: Table) -> list[Item]:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())  # type: ignore[arg-type]
