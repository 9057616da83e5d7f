"""The processed Stripe webhook events on the one table: `STRIPEEVENT#{event id}`/`EVENT`."""

from __future__ import annotations

from typing import Any

from shared.adapters.dynamodb_table import get_consistent, to_item, translated_errors
from shared.errors import ConcurrentUpdate


class DynamoDBStripeEventLog:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def seen(self, event_id: str) -> bool:
        key = {"pk": {"S": f"STRIPEEVENT#{event_id}"}, "sk": {"S": "EVENT"}}
        return get_consistent(self._client, self._table, key) is not None

    def record(self, record: dict[str, Any]) -> bool:
        try:
            with translated_errors():
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(record),
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ConcurrentUpdate:
            return False
        return True
