"""The recurring invoices' index: one marker per series, keyed by when its next invoice is due to be made.

`RECURRING#{shard}` / `{next_at}#{tenant}#{invoice_id}` (the series' latest invoice), found by a Query on
`sk < now`. Making the next invoice is one transaction: the counter, the invoice (sent) with its records and
its due-date marker, this marker removed (condition: still there, so a second run makes nothing) and the
series' next marker put unless the series has ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_invoice_due import RECURRING_SHARDS, due_marker_put, recurring_marker_put
from shared.adapters.dynamodb_invoices import invoice_item, tenant_pk
from shared.adapters.dynamodb_table import get_consistent, put_new, translated_errors
from shared.invoices.ports import RecurringMarker
from shared.models.invoice import Invoice
from shared.outbox.records import Record, iso

SHARDS = RECURRING_SHARDS
_COUNTER_SK = "COUNTER#INVOICE"


class DynamoDBRecurringIndex:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def due(self, now: datetime, limit: int) -> list[RecurringMarker]:
        markers: list[RecurringMarker] = []
        for shard in range(SHARDS):
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk < :now",
                # `$` sorts right after the `#` that follows the time: markers due at `now` itself are due.
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"RECURRING#{shard}"},
                    ":now": {"S": iso(now) + "$"},
                },
                "Limit": limit,
            }
            with translated_errors():
                items = self._client.query(**request).get("Items", [])
            for item in items:
                next_at = datetime.fromisoformat(item["sk"]["S"].split("#", 1)[0])
                markers.append(
                    RecurringMarker(
                        tenant_id=item["tenant_id"]["S"],
                        invoice_id=item["invoice_id"]["S"],
                        next_at=next_at,
                        made=int(item["made"]["N"]),
                        key=(item["pk"]["S"], item["sk"]["S"]),
                    )
                )
        return markers[:limit]

    def exists(self, marker: RecurringMarker) -> bool:
        key = {"pk": {"S": marker.key[0]}, "sk": {"S": marker.key[1]}}
        return get_consistent(self._client, self._table, key) is not None

    def issue(
        self,
        marker: RecurringMarker,
        invoice: Invoice,
        previous: int | None,
        records: list[Record],
        following: datetime | None,
    ) -> None:
        sequence = int(invoice.number.removeprefix("INV-"))
        counter: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": tenant_pk(invoice.tenant_id)}, "sk": {"S": _COUNTER_SK}},
            "UpdateExpression": "SET #v = :next",
            "ExpressionAttributeNames": {"#v": "value"},
            "ExpressionAttributeValues": {":next": {"N": str(sequence)}},
        }
        if previous is None:
            counter["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            counter["ConditionExpression"] = "#v = :previous"
            counter["ExpressionAttributeValues"][":previous"] = {"N": str(previous)}
        operations: list[dict[str, Any]] = [
            {"Update": counter},
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": marker.key[0]}, "sk": {"S": marker.key[1]}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            put_new(self._table, invoice_item(invoice)),
            due_marker_put(self._table, invoice.tenant_id, invoice.id, invoice.due_date),
            *(put_new(self._table, record) for record in records),
        ]
        if following is not None:
            operations.append(recurring_marker_put(self._table, invoice, following, marker.made + 1))
        with translated_errors():
            transact_write(self._client, operations)
