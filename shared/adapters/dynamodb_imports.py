"""Invoice imports on the one table: `IMPORT#{id}`/`META` (counts), `/BATCH#nnnnn` (up to 31 invoices' rows,
done once worked), `/ERRORS#nnnnn` (that batch's row errors), and `IMPORTREF#{tenant}#{reference}` (the
reference's 30-day claim). Batches and errors expire after 30 days; the META item stays."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_invoices import invoice_item, tenant_pk
from shared.adapters.dynamodb_table import (
    batch_write_all,
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    to_item,
    translated_errors,
)
from shared.enterprise.ports import ImportBatch, InvoiceImport, ReferenceTaken
from shared.errors import ConcurrentUpdate
from shared.outbox.records import Record, iso

_COUNTER_SK = "COUNTER#INVOICE"
RETENTION = timedelta(days=30)


def _pk(import_id: str) -> str:
    return f"IMPORT#{import_id}"


def _ref_key(tenant_id: str, reference: str) -> dict[str, Any]:
    return {"pk": {"S": f"IMPORTREF#{tenant_id}#{reference}"}, "sk": {"S": "REF"}}


def _meta_key(import_id: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(import_id)}, "sk": {"S": "META"}}


def _batch_key(import_id: str, number: int) -> dict[str, Any]:
    return {"pk": {"S": _pk(import_id)}, "sk": {"S": f"BATCH#{number:05d}"}}


class DynamoDBImportStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def accept(
        self,
        record: InvoiceImport,
        batches: list[ImportBatch],
        reference_until: datetime | None,
        records: list[Record],
    ) -> None:
        expires = int((record.created_at + RETENTION).timestamp())
        pk = _pk(record.import_id)
        parts = [
            {"pk": pk, "sk": f"BATCH#{b.number:05d}", "tenant_id": record.tenant_id, "groups": b.groups}
            for b in batches
        ]
        # Batches first (nothing refers to them until the META below commits).
        for start in range(0, len(parts), 25):
            chunk = parts[start : start + 25]
            puts = [{"PutRequest": {"Item": to_item({**p, "ttl": expires})}} for p in chunk]
            batch_write_all(self._client, self._table, puts, "the import's rows")
        operations = [put_new(self._table, _meta_item(record)), *(put_new(self._table, r) for r in records)]
        if record.reference is not None and reference_until is not None:
            operations.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": to_item(
                            {
                                **{
                                    k: v["S"] for k, v in _ref_key(record.tenant_id, record.reference).items()
                                },
                                "import_id": record.import_id,
                                "expires_at": iso(reference_until),
                                "ttl": int(reference_until.timestamp()),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                        "ExpressionAttributeValues": {":now": {"S": iso(record.created_at)}},
                    }
                }
            )
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            if record.reference is not None and len(operations) - 1 in failed_conditions(exc):
                item = get_consistent(self._client, self._table, _ref_key(record.tenant_id, record.reference))
                if item is not None:
                    raise ReferenceTaken(item["import_id"]["S"]) from None
            with translated_errors():
                raise

    def get(self, import_id: str) -> InvoiceImport | None:
        item = get_consistent(self._client, self._table, _meta_key(import_id))
        return _record(item) if item else None

    def errors(self, import_id: str) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        for item in self._query(import_id, "ERRORS#"):
            collected.extend(from_item(item).get("errors") or [])
        errors = [{"row": int(e["row"]), "field": e["field"], "error": e["error"]} for e in collected]
        return sorted(errors, key=lambda error: (error["row"], error["field"]))

    def batch(self, import_id: str, number: int) -> tuple[ImportBatch, bool] | None:
        item = get_consistent(self._client, self._table, _batch_key(import_id, number))
        if item is None:
            return None
        values = from_item(item)
        return ImportBatch(import_id, number, list(values["groups"])), bool(values.get("done"))

    def open_batches(self, import_id: str) -> list[int]:
        return [
            int(item["sk"]["S"].split("#")[1])
            for item in self._query(import_id, "BATCH#")
            if "done" not in item
        ]

    def store_batch(
        self,
        record: InvoiceImport,
        batch: ImportBatch,
        invoices: list[Any],
        last: int,
        previous: int | None,
        records: list[Record],
        errors: list[dict[str, Any]],
        failed: int,
    ) -> None:
        counter: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": tenant_pk(record.tenant_id)}, "sk": {"S": _COUNTER_SK}},
            "UpdateExpression": "SET #v = :next",
            "ExpressionAttributeNames": {"#v": "value"},
            "ExpressionAttributeValues": {":next": {"N": str(last)}},
        }
        if previous is None:
            counter["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            counter["ConditionExpression"] = "#v = :previous"
            counter["ExpressionAttributeValues"][":previous"] = {"N": str(previous)}
        done = {
            "TableName": self._table,
            "Key": _batch_key(batch.import_id, batch.number),
            "UpdateExpression": "SET done = :yes",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(done)",
            "ExpressionAttributeValues": {":yes": {"BOOL": True}},
        }
        counts = {
            "TableName": self._table,
            "Key": _meta_key(batch.import_id),
            "UpdateExpression": "ADD created :created, failed :failed, batches_done :one",
            "ExpressionAttributeValues": {
                ":created": {"N": str(len(invoices))},
                ":failed": {"N": str(failed)},
                ":one": {"N": "1"},
            },
        }
        expires = int((record.created_at + RETENTION).timestamp())
        error_items = (
            [
                {
                    "pk": _pk(batch.import_id),
                    "sk": f"ERRORS#{batch.number:05d}",
                    "errors": errors,
                    "ttl": expires,
                }
            ]
            if errors
            else []
        )
        operations = [
            *([{"Update": counter}] if invoices else []),
            {"Update": done},
            {"Update": counts},
            *(put_new(self._table, invoice_item(invoice)) for invoice in invoices),
            *(put_new(self._table, r) for r in [*error_items, *records]),
        ]
        with translated_errors():
            transact_write(self._client, operations)

    def complete(self, record: InvoiceImport, at: datetime, records: list[Record]) -> bool:
        update = {
            "Update": {
                "TableName": self._table,
                "Key": _meta_key(record.import_id),
                "UpdateExpression": "SET completed_at = :at",
                "ConditionExpression": "batches_done >= batches AND attribute_not_exists(completed_at)",
                "ExpressionAttributeValues": {":at": {"S": iso(at)}},
            }
        }
        try:
            with translated_errors():
                transact_write(self._client, [update, *(put_new(self._table, r) for r in records)])
        except ConcurrentUpdate:
            return False
        return True

    def _query(self, import_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(import_id)}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            with translated_errors():
                page = self._client.query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _meta_item(record: InvoiceImport) -> dict[str, Any]:
    return {
        "pk": _pk(record.import_id),
        "sk": "META",
        "entity": "invoice_import",
        "import_id": record.import_id,
        "tenant_id": record.tenant_id,
        "actor": record.actor,
        "reference": record.reference,
        "rows": record.rows,
        "invoices": record.invoices,
        "batches": record.batches,
        "batches_done": 0,
        "created": 0,
        "failed": record.failed,
        "created_at": iso(record.created_at),
        "completed_at": iso(record.completed_at) if record.completed_at else None,
    }


def _record(item: dict[str, Any]) -> InvoiceImport:
    values = from_item(item)
    completed = values.get("completed_at")
    return InvoiceImport(
        import_id=values["import_id"],
        tenant_id=values["tenant_id"],
        actor=values["actor"],
        reference=values.get("reference"),
        rows=int(values["rows"]),
        invoices=int(values["invoices"]),
        batches=int(values["batches"]),
        batches_done=int(values["batches_done"]),
        created=int(values["created"]),
        failed=int(values["failed"]),
        created_at=datetime.fromisoformat(values["created_at"]),
        completed_at=datetime.fromisoformat(completed) if completed else None,
    )
