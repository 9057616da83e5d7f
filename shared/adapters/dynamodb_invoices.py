"""InvoiceRepository on the one table: items, GSIs and transactions exactly as docs/DESIGN.md lays out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_invoice_due import due_marker_delete, due_marker_put, recurring_marker_put
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    translated_errors,
    value,
)
from shared.invoices.periods import next_period
from shared.invoices.ports import DueMarker, InvoicePage, InvoiceQuery, WalletHoldsMoney
from shared.models.invoice import FUNDABLE, Invoice, InvoiceStatus
from shared.outbox.records import Record, iso

_COUNTER_SK = "COUNTER#INVOICE"
_MAX_QUERIES_PER_PAGE = 10
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#(inv_[0-9a-z]{24})$")
_KEY_ATTRS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _list_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#INVOICES"


def _status_pk(tenant_id: str, status: InvoiceStatus) -> str:
    return f"TENANT#{tenant_id}#INVOICES#{status.value}"


def _customer_pk(tenant_id: str, customer_id: str) -> str:
    return f"TENANT#{tenant_id}#CUSTOMER#{customer_id}"


def invoice_item(invoice: Invoice) -> dict[str, Any]:
    """The stored form of an invoice: API-shaped attributes plus its keys, amounts as numbers."""
    order = f"{iso(invoice.created_at)}#{invoice.id}"
    body = invoice.model_dump(mode="python", exclude={"line_items", "status", "due_date"})
    for stamp in ("created_at", "updated_at", "sent_at", "voided_at", "deleted_at"):
        body[stamp] = iso(body[stamp]) if body[stamp] else None
    return {
        "pk": tenant_pk(invoice.tenant_id),
        "sk": f"INVOICE#{invoice.id}",
        "gsi1pk": _list_pk(invoice.tenant_id),
        "gsi1sk": order,
        "gsi2pk": _status_pk(invoice.tenant_id, invoice.status),
        "gsi2sk": order,
        "gsi3pk": _customer_pk(invoice.tenant_id, invoice.customer_id),
        "gsi3sk": order,
        "entity": "invoice",
        **body,
        "status": invoice.status.value,
        "due_date": invoice.due_date.isoformat(),
        "line_items": [line.model_dump(mode="python") for line in invoice.line_items],
    }


def invoice_from_item(item: dict[str, Any]) -> Invoice:
    values = from_item(item)
    for key in (*_KEY_ATTRS, "entity"):
        values.pop(key, None)
    return Invoice.model_validate(values)


class DynamoDBInvoiceRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def current_number(self, tenant_id: str) -> int | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": _COUNTER_SK}},
                ConsistentRead=True,
                ProjectionExpression="#v",
                ExpressionAttributeNames={"#v": "value"},
            )
        item = response.get("Item")
        return int(item["value"]["N"]) if item else None

    def create(self, invoice: Invoice, sequence: int, previous: int | None, records: list[Record]) -> None:
        self.create_many([invoice], sequence, previous, records)

    def create_many(
        self, invoices: list[Invoice], last: int, previous: int | None, records: list[Record]
    ) -> None:
        tenant_id = invoices[0].tenant_id
        counter: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": _COUNTER_SK}},
            "UpdateExpression": "SET #v = :next",
            "ExpressionAttributeNames": {"#v": "value"},
            "ExpressionAttributeValues": {":next": {"N": str(last)}},
        }
        if previous is None:
            counter["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            counter["ConditionExpression"] = "#v = :previous"
            counter["ExpressionAttributeValues"][":previous"] = {"N": str(previous)}
        puts = [self._put_new(invoice_item(invoice)) for invoice in invoices]
        # A recurring invoice starts its series: the next one is made at the next period's start.
        series = [
            recurring_marker_put(self._table, invoice, next_period(invoice.created_at, invoice.schedule), 1)
            for invoice in invoices
            if invoice.schedule is not None and (invoice.schedule.end_after or 2) > 1
        ]
        self._transact([{"Update": counter}, *puts, *series, *self._puts(records)])

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        key = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"INVOICE#{invoice_id}"}}
        item = get_consistent(self._client, self._table, key)
        return invoice_from_item(item) if item else None

    def page(self, query: InvoiceQuery) -> InvoicePage:
        index, partition, status_filter = self._index_for(query)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#ipk = :partition",
            "ExpressionAttributeNames": {"#ipk": f"{index}pk"},
            "ExpressionAttributeValues": {":partition": {"S": partition}},
            "ScanIndexForward": False,
        }
        if query.hide_drafts and query.status is InvoiceStatus.DRAFT:
            return InvoicePage(items=[], next_cursor=None)
        if status_filter is not None:
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"]["#status"] = "status"
            request["ExpressionAttributeValues"][":status"] = {"S": status_filter.value}
        elif query.hide_drafts:
            request["FilterExpression"] = "#status <> :draft"
            request["ExpressionAttributeNames"]["#status"] = "status"
            request["ExpressionAttributeValues"][":draft"] = {"S": InvoiceStatus.DRAFT.value}
        start = (
            decode_invoice_cursor(query.cursor, index, partition, query.tenant_id) if query.cursor else None
        )
        collected: list[dict[str, Any]] = []
        for _ in range(_MAX_QUERIES_PER_PAGE):
            # One extra item tells whether another page exists without a second round trip.
            page_request = dict(request, Limit=query.limit + 1 - len(collected))
            if start:
                page_request["ExclusiveStartKey"] = start
            with translated_errors():
                response = self._client.query(**page_request)
            collected.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if len(collected) > query.limit or not start:
                break
        items = collected[: query.limit]
        more = len(collected) > query.limit or start is not None
        cursor = None
        if more and items:
            cursor = encode_invoice_cursor(items[-1], index)
        elif more and start:
            cursor = encode_invoice_cursor(start, index)
        return InvoicePage(items=[invoice_from_item(item) for item in items], next_cursor=cursor)

    def change_status(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        records: list[Record],
        *,
        wallet_empty: bool = False,
        due_marker: DueMarker | None = None,
    ) -> None:
        names = {"#status": "status", "#updated": "updated_at", "#gsi2pk": "gsi2pk"}
        values = {
            ":to": value(invoice.status.value),
            ":updated": value(iso(invoice.updated_at)),
            ":gsi2pk": value(_status_pk(invoice.tenant_id, invoice.status)),
            ":expected": value(expected.value),
        }
        sets = ["#status = :to", "#updated = :updated", "#gsi2pk = :gsi2pk"]
        for stamp in ("sent_at", "voided_at"):
            moment = getattr(invoice, stamp)
            if moment is not None:
                names[f"#{stamp}"] = stamp
                values[f":{stamp}"] = value(iso(moment))
                sets.append(f"#{stamp} = :{stamp}")
        update = self._guarded_update(invoice, "SET " + ", ".join(sets), names, values)
        # A sent invoice enters the due-date index the overdue run queries (dynamodb_invoice_due).
        sent = invoice.status is InvoiceStatus.SENT
        marker = (
            [due_marker_put(self._table, invoice.tenant_id, invoice.id, invoice.due_date)] if sent else []
        )
        if due_marker is not None:
            marker.append(due_marker_delete(self._table, due_marker.key))
        self._transact_guarded(invoice, update, records, wallet_empty, extra=marker)

    def soft_delete(
        self,
        invoice: Invoice,
        expected: InvoiceStatus,
        deleted_at: datetime,
        records: list[Record],
        *,
        wallet_empty: bool = False,
    ) -> None:
        # Dropping the GSI keys takes the invoice out of every list in the same write that deletes it.
        names = {"#deleted": "deleted_at", "#updated": "updated_at", "#status": "status"}
        values = {":deleted": value(iso(deleted_at)), ":expected": value(expected.value)}
        expression = "SET #deleted = :deleted, #updated = :deleted REMOVE " + ", ".join(_KEY_ATTRS[2:])
        update = self._guarded_update(invoice, expression, names, values)
        self._transact_guarded(invoice, update, records, wallet_empty)

    def _transact_guarded(
        self,
        invoice: Invoice,
        update: dict[str, Any],
        records: list[Record],
        wallet_empty: bool,
        *,
        extra: list[dict[str, Any]] | None = None,
    ) -> None:
        """The invoice's update and records, with the wallet guard's checks when asked for. A lost guard is
        WalletHoldsMoney; a moved invoice (or a wallet made meanwhile) ConcurrentUpdate, for a fresh read."""
        guard = self._wallet_empty_checks(invoice.id) if wallet_empty else []
        operations = [{"Update": update}, *guard, *self._puts(records), *(extra or [])]
        # The wallet's own checks (not the "no wallet yet" one, whose loss only means read again).
        money_checks = {i + 1 for i, check in enumerate(guard) if _guards_money(check)}
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            if money_checks & failed_conditions(exc):
                raise WalletHoldsMoney(
                    "the invoice's wallet holds money or has a payment in flight; refund it first"
                ) from None
            with translated_errors():
                raise

    def _wallet_empty_checks(self, invoice_id: str) -> list[dict[str, Any]]:
        """ConditionChecks that the invoice's wallet holds nothing and moves nothing: its balance is zero,
        its funding claim is not minting and no payment is in flight. Conditions, not this read, decide:
        a fund or pay racing the void either commits first (and the void fails) or fails on the invoice."""
        from shared.adapters.dynamodb_funding import claim_key
        from shared.adapters.dynamodb_payments import no_payment_in_flight
        from shared.adapters.dynamodb_wallets import META, invoice_wallet_key, wallet_pk
        from shared.funding.ports import ClaimState

        unique = invoice_wallet_key(invoice_id)
        item = get_consistent(self._client, self._table, unique)
        if item is None:
            # No wallet yet: the check keeps it so (one made meanwhile makes the void read again).
            mapping = {
                "TableName": self._table,
                "Key": unique,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
            return [{"ConditionCheck": mapping}]
        wallet_id = item["wallet_id"]["S"]
        wallet = {
            "TableName": self._table,
            "Key": {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": META}},
            "ConditionExpression": "#balance = :zero",
            "ExpressionAttributeNames": {"#balance": "balance"},
            "ExpressionAttributeValues": {":zero": {"N": "0"}},
        }
        funding = {
            "TableName": self._table,
            "Key": claim_key(wallet_id),
            "ConditionExpression": "attribute_not_exists(pk) OR #state <> :minting",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": {":minting": value(ClaimState.MINTING.value)},
        }
        return [
            {"ConditionCheck": wallet},
            {"ConditionCheck": funding},
            no_payment_in_flight(self._table, wallet_id),
        ]

    def _guarded_update(
        self, invoice: Invoice, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": tenant_pk(invoice.tenant_id)}, "sk": {"S": f"INVOICE#{invoice.id}"}},
            "UpdateExpression": expression,
            "ConditionExpression": "#status = :expected AND attribute_not_exists(deleted_at)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _index_for(self, query: InvoiceQuery) -> tuple[str, str, InvoiceStatus | None]:
        if query.customer_id is not None:
            return "gsi3", _customer_pk(query.tenant_id, query.customer_id), query.status
        if query.status is not None:
            return "gsi2", _status_pk(query.tenant_id, query.status), None
        return "gsi1", _list_pk(query.tenant_id), None

    def _put_new(self, item: Record) -> dict[str, Any]:
        return put_new(self._table, item)

    def _puts(self, records: list[Record]) -> list[dict[str, Any]]:
        return [self._put_new(record) for record in records]

    def _transact(self, operations: list[dict[str, Any]]) -> None:
        with translated_errors():
            transact_write(self._client, operations)


def _guards_money(check: dict[str, Any]) -> bool:
    return not check["ConditionCheck"]["Key"]["pk"]["S"].startswith("INVOICEWALLET#")


def _key_names(index: str) -> tuple[str, ...]:
    return ("pk", "sk", f"{index}pk", f"{index}sk")


def encode_invoice_cursor(key: dict[str, Any], index: str) -> str:
    return encode_cursor(key, _key_names(index))


def decode_invoice_cursor(cursor: str, index: str, partition: str, tenant_id: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for, refusing any cursor this query could not have issued."""

    def issued_here(plain: dict[str, str]) -> bool:
        match = _SORT_KEY.fullmatch(plain[f"{index}sk"])
        return (
            plain[f"{index}pk"] == partition
            and plain["pk"] == tenant_pk(tenant_id)
            and match is not None
            and plain["sk"] == f"INVOICE#{match.group(1)}"
        )

    return decode_cursor(cursor, _key_names(index), issued_here)


def payment_update(table: str, before: Invoice, after: Invoice) -> dict[str, Any]:
    """The transaction operation that records a payment on an invoice (amount paid, status and its status
    index), conditional on the invoice as the payer read it, for the pay flow's own transaction."""
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": tenant_pk(before.tenant_id)}, "sk": {"S": f"INVOICE#{before.id}"}},
            "UpdateExpression": "SET #paid = :paid, #status = :to, #updated = :updated, #gsi2pk = :gsi2pk",
            "ConditionExpression": "#status = :expected AND #paid = :expected_paid "
            "AND attribute_not_exists(deleted_at)",
            "ExpressionAttributeNames": {
                "#paid": "amount_paid",
                "#status": "status",
                "#updated": "updated_at",
                "#gsi2pk": "gsi2pk",
            },
            "ExpressionAttributeValues": {
                ":paid": value(after.amount_paid),
                ":to": value(after.status.value),
                ":updated": value(iso(after.updated_at)),
                ":gsi2pk": value(_status_pk(after.tenant_id, after.status)),
                ":expected": value(before.status.value),
                ":expected_paid": value(before.amount_paid),
            },
        }
    }


def invoice_fundable(table: str, tenant_id: str, invoice_id: str) -> dict[str, Any]:
    """A ConditionCheck for money flows into a wallet: its invoice is live and payable (FUNDABLE)."""
    statuses = sorted(status.value for status in FUNDABLE)
    placeholders = [f":fundable{index}" for index in range(len(statuses))]
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"INVOICE#{invoice_id}"}},
            "ConditionExpression": f"#status IN ({', '.join(placeholders)}) "
            "AND attribute_not_exists(deleted_at)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                name: value(status) for name, status in zip(placeholders, statuses, strict=True)
            },
        }
    }
