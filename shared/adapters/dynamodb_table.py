"""The one DynamoDB table: a tuned client, item (de)serialization and error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import ConcurrentUpdate, DependencyUnavailable
from shared.outbox.records import AuditEntry, DomainEvent

# Short timeouts: an API call waits for us, and botocore's standard mode already retries throttles.
CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}, tcp_keepalive=True
)
# A health probe must answer fast even when the table does not: no retries, one-second timeouts.
PROBE_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def dynamodb_client(region: str, config: Config = CLIENT_CONFIG) -> Any:
    return boto3.client("dynamodb", region_name=region, config=config)


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A plain dict (str, int, Decimal, bool, list, dict) as a DynamoDB item; None attributes are dropped."""
    return {
        key: _serializer.serialize(_strip_none(value)) for key, value in values.items() if value is not None
    }


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats never reach the table; use Decimal")
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def value(raw: Any) -> dict[str, Any]:
    return dict(_serializer.serialize(raw))


def number(raw: dict[str, Any]) -> Decimal:
    return Decimal(raw["N"])


def batch_write_all(client: Any, table: str, requests: list[dict[str, Any]], what: str) -> None:
    """BatchWriteItem of up to 25 `requests`, sending what DynamoDB left unprocessed again (8 rounds at most);
    still refused after that, ConcurrentUpdate naming `what` (the caller's retry writes the same items)."""
    pending = {table: requests}
    for _ in range(8):
        with translated_errors():
            response = client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
    raise ConcurrentUpdate(f"the table did not take {what}; retry")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Lost conditions become ConcurrentUpdate; an unreachable or throttled table DependencyUnavailable."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if any(r in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons):
                raise ConcurrentUpdate("a concurrent change won; retry") from exc
            raise DependencyUnavailable("the table refused the transaction; retry") from exc
        if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
            raise ConcurrentUpdate("a concurrent change won; retry") from exc
        if code in (
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
            "ServiceUnavailable",
        ):
            raise DependencyUnavailable("the table is busy; retry") from exc
        raise
    except BotoCoreError as exc:
        raise DependencyUnavailable("the table is unreachable; retry") from exc


def get_consistent(client: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    """One item by key, strongly consistent (money decisions never read a stale item)."""
    with translated_errors():
        response = client.get_item(TableName=table, Key=key, ConsistentRead=True)
    item: dict[str, Any] | None = response.get("Item")
    return item


def put_new(table: str, item: dict[str, Any] | DomainEvent | AuditEntry) -> dict[str, Any]:
    """The TransactWriteItems Put of an item that must not exist yet (audit, events, logs, markers). A
    DomainEvent becomes its stored event item and an AuditEntry its `AUDIT#` item; send the operations
    through shared.adapters.dynamodb_events.transact_write so an event gets its sequence."""
    if isinstance(item, DomainEvent):
        from shared.adapters.dynamodb_events import event_item  # that module builds on this one

        item = event_item(item)
    elif isinstance(item, AuditEntry):
        from shared.adapters.dynamodb_audit_entries import audit_item

        item = audit_item(item)
    return {
        "Put": {"TableName": table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}
    }


def not_in_state(table: str, key: dict[str, Any], state: str) -> dict[str, Any]:
    """A ConditionCheck that the claim item at `key` is absent or not in `state` (e.g. a payment or refund
    still in flight), for transactions of other flows that must not overlap it."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": key,
            "ConditionExpression": "attribute_not_exists(pk) OR #state <> :state",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":state": value(state)},
        }
    }


def failed_conditions(exc: ClientError) -> set[int]:
    """The positions of the operations whose condition failed in a cancelled TransactWriteItems (empty for
    any other error): how an adapter tells which of its items moved."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return set()
    reasons = exc.response.get("CancellationReasons", [])
    return {index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}
