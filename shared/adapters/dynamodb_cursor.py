"""Opaque page cursors: an item's key on the queried index as base64url JSON, checked on the way back in."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.adapters.dynamodb_table import translated_errors, value
from shared.errors import ValidationFailed

_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,1024}")


def encode_cursor(item: Mapping[str, Any], key_names: Sequence[str]) -> str:
    """The cursor of `item` (a DynamoDB-typed item) for a query whose ExclusiveStartKey has `key_names`."""
    plain = {name: item[name]["S"] for name in key_names}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, key_names: Sequence[str], issued_here: Callable[[dict[str, str]], bool]
) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for.

    Anything this list could not have issued (bad encoding, other keys, another tenant's partition, which
    `issued_here` judges) is a 400 rather than a query that would start somewhere unexpected.
    """
    invalid = ValidationFailed(
        "cursor is invalid",
        [{"field": "cursor", "message": "not a cursor from this list", "type": "value_error"}],
    )
    if not _CURSOR.fullmatch(cursor):
        raise invalid
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not isinstance(plain, dict) or set(plain) != set(key_names):
        raise invalid
    if not all(isinstance(text, str) for text in plain.values()) or not issued_here(plain):
        raise invalid
    return {name: {"S": text} for name, text in plain.items()}


def newest_first(
    client: Any, table: str, index: str, partition: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `index`'s partition, newest (highest sort key) first, and the next page's cursor; a
    cursor from another partition is a 400. The index's key attributes are `<index>pk`/`<index>sk`."""
    key_names = ("pk", "sk", f"{index}pk", f"{index}sk")
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": f"{index}pk"},
        "ExpressionAttributeValues": {":pk": value(partition)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if cursor:
        kwargs["ExclusiveStartKey"] = decode_cursor(
            cursor, key_names, lambda plain: plain[f"{index}pk"] == partition
        )
    with translated_errors():
        response = client.query(**kwargs)
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), encode_cursor(last, key_names) if last else None
