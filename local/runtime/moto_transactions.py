"""TransactWriteItems for moto 5.2 at the cost of the items it touches.

Why our own: moto 5.2.1's `transact_write_items` deep-copies the whole table, stream records included, once
per operation before writing, so a transaction costs O(operations x table size). A long `make run` or a
test that writes a few thousand items slows to seconds per transaction, and a cancelled transaction swaps
the table object, which orphans open stream iterators. No released moto does better (checked 5.2.1).

Same semantics, cheaper: every condition is checked against the state before the transaction; nothing is
written unless all pass (a cancelled transaction leaves no item and no stream record); a failure while
writing (a bad update expression) is undone from per-item snapshots, and the stream records it added are
dropped. Installed by the local runtime and by the test suite; production never imports this.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_Plan = tuple[str, dict[str, Any], str, dict[str, Any]]


def install() -> None:
    """Replace moto's implementation (idempotent)."""
    if getattr(DynamoDBBackend.transact_write_items, "_touched_items_only", False):
        return
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    plans, errors = _check(self, transact_items)
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    _apply(self, plans)


transact_write_items._touched_items_only = True  # type: ignore[attr-defined]


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    attrs = op["Item"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _check(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> tuple[list[_Plan], list[tuple[Any, Any, Any]]]:
    """Every operation's condition against the state before the transaction; nothing written."""
    plans: list[_Plan] = []
    errors: list[tuple[Any, Any, Any]] = []
    seen: set[tuple[str, str]] = set()
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        original: dict[str, Any] | None = None
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            key = _key_of(backend, op_type, op)
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = backend.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original)
            plans.append((op_type, op, table_name, key))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), original))
        except Exception as exc:  # reported per operation, as DynamoDB does
            errors.append((type(exc).__name__, str(exc), original))
    return plans, errors


def _apply(backend: DynamoDBBackend, plans: list[_Plan]) -> None:
    snapshots: list[tuple[Any, dict[str, Any], Any]] = []
    stream_lengths: dict[str, int] = {}
    for _, _, table_name, key in plans:
        table = backend.get_table(table_name)
        if table.stream_shard is not None:
            stream_lengths.setdefault(table_name, len(table.stream_shard.items))
        snapshots.append((table, key, copy.deepcopy(backend.get_item(table_name, key))))
    failed_at = -1
    try:
        for index, (op_type, op, table_name, key) in enumerate(plans):
            failed_at = index
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name,
                    key,
                    condition_expression=condition,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition,
                    expression_attribute_names=names,  # type: ignore[arg-type]  # moto passes None too
                    expression_attribute_values=values,  # type: ignore[arg-type]
                )
    except Exception as exc:
        _restore(backend, snapshots, stream_lengths)
        if isinstance(exc, MockValidationException):
            raise
        errors: list[tuple[Any, Any, Any]] = [(None, None, None)] * len(plans)
        errors[failed_at] = (type(exc).__name__, str(exc), None)
        raise TransactionCanceledException(errors) from exc


def _restore(
    backend: DynamoDBBackend, snapshots: list[tuple[Any, dict[str, Any], Any]], stream_lengths: dict[str, int]
) -> None:
    for table, key, before in reversed(snapshots):
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr is not None:
            range_value = DynamoType(key[table.range_key_attr])
            if before is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before
        elif before is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = before
    for table_name, length in stream_lengths.items():
        shard = backend.get_table(table_name).stream_shard
        if shard is not None:
            del shard.items[length:]
