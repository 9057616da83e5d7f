"""DynamoDB request units of the calls a run makes, with item sizes measured in moto, plus what the calls
carried that other services bill for (OUTBOX items written, PutEvents entries, @connections pushes).

Sizes are read back from moto with a low-level client through botocore's unpatched `_make_api_call`, so the
measuring reads are neither counted nor billed. Writes are charged on the larger of the item before and
after (as DynamoDB does for Put/Update/Delete), doubled in a transaction; a ConditionCheck in a transaction
is charged as a transactional write of the checked item (conservative). Each GSI whose keys the item has
costs one more write (two when the write moves the item within the index).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.client import BaseClient

from bench.pricing import item_size, read_units, write_units

MakeApiCall = Callable[[BaseClient, str, dict[str, Any]], Any]
_TYPED = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
_SERIALIZER = TypeSerializer()
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def typed(value: Any) -> Any:
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _TYPED:
        return dict(value)
    return _SERIALIZER.serialize(value)


class CapacityMeter:
    """Request units by operation, OUTBOX items per write request, PutEvents entries, @connections pushes."""

    def __init__(self, pristine: MakeApiCall, reader: BaseClient) -> None:
        self._pristine = pristine
        self._reader = reader
        self._schemas: dict[str, tuple[list[str], list[list[str]]]] = {}
        self.write_units: Counter[str] = Counter()
        self.read_units: Counter[str] = Counter()
        self.outbox_batches: list[list[dict[str, Any]]] = []
        self.bus_entries: list[dict[str, Any]] = []
        self.push_bytes: list[int] = []

    @property
    def total_write_units(self) -> Decimal:
        return Decimal(sum(self.write_units.values()))

    @property
    def total_read_units(self) -> Decimal:
        return sum((Decimal(str(v)) for v in self.read_units.values()), Decimal(0))

    def call(self, inner: MakeApiCall, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if service == "events" and operation == "PutEvents":
            self.bus_entries.extend(dict(entry) for entry in params.get("Entries", []))
        if service == "apigatewaymanagementapi" and operation == "PostToConnection":
            data = params.get("Data", b"")
            self.push_bytes.append(len(data if isinstance(data, bytes) else str(data).encode()))
        if service != "dynamodb":
            return inner(client, operation, params)
        if operation in WRITES:
            return self._write(inner, client, operation, params)
        response = inner(client, operation, params)
        self._read(operation, params, response)
        return response

    # -- writes --------------------------------------------------------------------------------------------

    def _write(self, inner: MakeApiCall, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        targets = list(self._write_targets(operation, params))
        before = [self._get(table, key) for table, key, _, _ in targets]
        try:
            return inner(client, operation, params)
        finally:
            outbox: list[dict[str, Any]] = []
            for (table, key, kind, transactional), old in zip(targets, before, strict=True):
                new = self._get(table, key) if kind != "ConditionCheck" else old
                size = max(item_size(old or {}), item_size(new or {}))
                units = write_units(size, transactional=transactional)
                if kind != "ConditionCheck":
                    units += self._index_units(table, old, new)
                self.write_units[operation] += units
                if kind == "Put" and new is not None and _is_outbox(key):
                    outbox.append(new)
            if outbox:
                self.outbox_batches.append(outbox)

    def _write_targets(
        self, operation: str, params: dict[str, Any]
    ) -> Iterator[tuple[str, dict[str, Any], str, bool]]:
        if operation == "PutItem":
            yield params["TableName"], self._key(params["TableName"], params["Item"]), "Put", False
        elif operation in ("UpdateItem", "DeleteItem"):
            kind = operation.removesuffix("Item")
            yield params["TableName"], self._key(params["TableName"], params["Key"]), kind, False
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        yield table, self._key(table, request["PutRequest"]["Item"]), "Put", False
                    else:
                        yield table, self._key(table, request["DeleteRequest"]["Key"]), "Delete", False
        else:
            for action in params["TransactItems"]:
                kind, body = next(iter(action.items()))
                source = body.get("Item") or body["Key"]
                yield body["TableName"], self._key(body["TableName"], source), kind, True

    def _index_units(self, table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        units = 0
        for attributes in self._schema(table)[1]:
            old_key = _index_key(old, attributes)
            new_key = _index_key(new, attributes)
            if old_key is not None and new_key is not None and old_key != new_key:
                units += write_units(item_size(old or {})) + write_units(item_size(new or {}))
            elif old_key is not None or new_key is not None:
                units += write_units(item_size(new or old or {}))
        return units

    # -- reads ---------------------------------------------------------------------------------------------

    def _read(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        if operation == "GetItem":
            consistency = "strong" if params.get("ConsistentRead") else "eventual"
            size = item_size(
                self._get(params["TableName"], self._key(params["TableName"], params["Key"])) or {}
            )
            self.read_units[operation] += read_units(size, consistency)
        elif operation == "BatchGetItem":
            for table, spec in params["RequestItems"].items():
                consistency = "strong" if spec.get("ConsistentRead") else "eventual"
                for key in spec["Keys"]:
                    size = item_size(self._get(table, self._key(table, key)) or {})
                    self.read_units[operation] += read_units(size, consistency)
        elif operation == "TransactGetItems":
            for action in params["TransactItems"]:
                body = action["Get"]
                size = item_size(
                    self._get(body["TableName"], self._key(body["TableName"], body["Key"])) or {}
                )
                self.read_units[operation] += read_units(size, "transactional")
        elif operation in ("Query", "Scan"):
            self.read_units[operation] += self._query_units(params, response)

    def _query_units(self, params: dict[str, Any], response: dict[str, Any]) -> Decimal:
        table = params["TableName"]
        key_attributes = self._schema(table)[0]
        projected = (
            "ProjectionExpression" in params or params.get("Select", "ALL_ATTRIBUTES") != "ALL_ATTRIBUTES"
        )
        total = 0
        for item in response.get("Items", []):
            if projected and all(a in item for a in key_attributes):
                total += item_size(self._get(table, {a: typed(item[a]) for a in key_attributes}) or {})
            else:
                total += item_size(item)
        count, scanned = int(response.get("Count", 0)), int(response.get("ScannedCount", 0))
        if count and scanned > count:
            total = total * scanned // count  # items read and then filtered out are billed too
        consistency = "strong" if params.get("ConsistentRead") and "IndexName" not in params else "eventual"
        return read_units(total, consistency)

    # -- moto, unbilled ------------------------------------------------------------------------------------

    def _schema(self, table: str) -> tuple[list[str], list[list[str]]]:
        if table not in self._schemas:
            description = self._pristine(self._reader, "DescribeTable", {"TableName": table})["Table"]
            keys = [k["AttributeName"] for k in description["KeySchema"]]
            indexes = [
                [k["AttributeName"] for k in index["KeySchema"]]
                for index in description.get("GlobalSecondaryIndexes", [])
            ]
            self._schemas[table] = (keys, indexes)
        return self._schemas[table]

    def _key(self, table: str, source: Mapping[str, Any]) -> dict[str, Any]:
        return {name: typed(source[name]) for name in self._schema(table)[0]}

    def _get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._pristine(
            self._reader, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
        )
        item = answer.get("Item")
        return dict(item) if item else None


def _is_outbox(key: dict[str, Any]) -> bool:
    return str(key.get("pk", {}).get("S", "")).startswith("OUTBOX#")


def _index_key(item: dict[str, Any] | None, attributes: list[str]) -> tuple[str, ...] | None:
    if item is None or not all(a in item for a in attributes):
        return None
    return tuple(repr(item[a]) for a in attributes)


@contextmanager
def metering(reader: BaseClient) -> Iterator[CapacityMeter]:
    """Meter every botocore call made inside (on top of whatever already wraps `_make_api_call`); `reader`
    is a low-level DynamoDB client on the same backend, used for the unbilled size reads."""
    wrapped = BaseClient._make_api_call
    pristine: MakeApiCall = getattr(wrapped, "__bench_pristine__", None) or _ORIGINAL
    meter = CapacityMeter(pristine, reader)

    def metered(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return meter.call(wrapped, client, operation, params)

    metered.__bench_pristine__ = pristine  # type: ignore[attr-defined]
    BaseClient._make_api_call = metered  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        BaseClient._make_api_call = wrapped  # type: ignore[method-assign]


# botocore's own, taken when this module is first imported (before any bench patches it).
_ORIGINAL: MakeApiCall = BaseClient._make_api_call
