"""The due-date index of open invoices: one marker per sent invoice, found by a Query on its due date.

A marker is written in the transaction that sends the invoice and removed in the one that marks it
overdue (or by the run, once it finds the invoice settled), so the overdue run reads only invoices whose
due date has ended and that are not yet overdue: a Query per shard (`sk < today`), never a Scan of every
invoice. Markers are spread over SHARDS partitions so that no single item collection takes every send.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from shared.adapters.dynamodb_table import translated_errors
from shared.invoices.ports import DueMarker
from shared.models.invoice import Invoice
from shared.outbox.records import iso

SHARDS = 8
# Recurring series (shared/adapters/dynamodb_recurring.py) share the spreading.
RECURRING_SHARDS = SHARDS
_PAGE = 200


def _shard(invoice_id: str) -> int:
    return int.from_bytes(hashlib.sha256(invoice_id.encode()).digest()[:2], "big") % SHARDS


def due_marker_put(table: str, tenant_id: str, invoice_id: str, due_date: date) -> dict[str, Any]:
    """The TransactWriteItems Put of an invoice's marker (a plain Put: sending happens once per invoice)."""
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "pk": {"S": f"INVOICEDUE#{_shard(invoice_id)}"},
                "sk": {"S": f"{due_date.isoformat()}#{tenant_id}#{invoice_id}"},
                "entity": {"S": "invoice_due"},
                "tenant_id": {"S": tenant_id},
                "invoice_id": {"S": invoice_id},
            },
        }
    }


def due_marker_delete(table: str, key: tuple[str, str]) -> dict[str, Any]:
    """The TransactWriteItems Delete of a marker, in the transaction that marks its invoice overdue."""
    return {"Delete": {"TableName": table, "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}}}}


def recurring_marker_put(table: str, invoice: Invoice, next_at: datetime, made: int) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "pk": {"S": f"RECURRING#{_shard(invoice.id)}"},
                "sk": {"S": f"{iso(next_at)}#{invoice.tenant_id}#{invoice.id}"},
                "entity": {"S": "invoice_recurrence"},
                "tenant_id": {"S": invoice.tenant_id},
                "invoice_id": {"S": invoice.id},
                "made": {"N": str(made)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class DynamoDBInvoiceDueIndex:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def ended_before(self, day: date, limit: int) -> list[DueMarker]:
        """Markers of due dates before `day` (at most `limit`, oldest due date first in each shard)."""
        markers: list[DueMarker] = []
        for shard in range(SHARDS):
            start: dict[str, Any] | None = None
            while len(markers) < limit:
                request: dict[str, Any] = {
                    "TableName": self._table,
                    "KeyConditionExpression": "pk = :pk AND sk < :day",
                    "ExpressionAttributeValues": {
                        ":pk": {"S": f"INVOICEDUE#{shard}"},
                        ":day": {"S": day.isoformat()},
                    },
                    "Limit": min(_PAGE, limit - len(markers)),
                }
                if start:
                    request["ExclusiveStartKey"] = start
                with translated_errors():
                    page = self._client.query(**request)
                markers.extend(_marker(item) for item in page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return markers

    def forget(self, marker: DueMarker) -> None:
        with translated_errors():
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": marker.key[0]}, "sk": {"S": marker.key[1]}},
            )


def _marker(item: dict[str, Any]) -> DueMarker:
    due = item["sk"]["S"].split("#", 1)[0]
    return DueMarker(
        tenant_id=item["tenant_id"]["S"],
        invoice_id=item["invoice_id"]["S"],
        due_date=date.fromisoformat(due),
        key=(item["pk"]["S"], item["sk"]["S"]),
    )
