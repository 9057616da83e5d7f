"""Reconciliation records on the one table: `RECONCILIATIONS` / `DAY#{date}`, one per UTC day."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, datetime
from typing import Any

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import from_item, put_new, to_item, translated_errors, value
from shared.errors import ValidationFailed
from shared.ledger.reserve import LedgerSnapshot, ReserveReport, reserve_report
from shared.ledger.totals import COUNTER_NAMES, AssetTotals
from shared.outbox.records import Record, iso
from shared.reserve.service import Reconciliation, ReconciliationPage

PARTITION = "RECONCILIATIONS"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day_key(day: date) -> dict[str, Any]:
    return {"pk": {"S": PARTITION}, "sk": {"S": f"DAY#{day.isoformat()}"}}


def report_values(report: ReserveReport) -> list[dict[str, Any]]:
    """The report's inputs (counters, balances, provider supply); the checks are recomputed on read."""
    return [
        {
            "asset": check.code,
            **check.totals.counters(),
            "account_balance": check.account_balance,
            "provider_supply": check.provider_supply,
        }
        for check in report.assets
    ]


def report_from_values(rows: list[dict[str, Any]]) -> ReserveReport:
    totals = {
        row["asset"]: AssetTotals(row["asset"], **{name: int(row.get(name, 0)) for name in COUNTER_NAMES})
        for row in rows
    }
    accounts = LedgerSnapshot.accounts_for([row["asset"] for row in rows])
    balances = {account: int(row["account_balance"]) for account, row in zip(accounts, rows, strict=True)}
    supplies = {
        row["asset"]: None if row.get("provider_supply") is None else int(row["provider_supply"])
        for row in rows
    }
    return reserve_report(LedgerSnapshot(totals, balances), supplies)


class DynamoDBReconciliationRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def save(
        self,
        day: date,
        report: ReserveReport,
        trigger: str,
        actor: str,
        now: datetime,
        records: list[Record],
    ) -> Reconciliation:
        names = {
            "#entity": "entity",
            "#date": "date",
            "#status": "status",
            "#gap": "gap",
            "#assets": "assets",
            "#trigger": "trigger",
            "#actor": "actor",
            "#first": "first_run_at",
            "#last": "last_run_at",
            "#runs": "runs",
        }
        values = {
            ":entity": value("reconciliation"),
            ":date": value(day.isoformat()),
            ":status": value(report.status.value),
            ":gap": value(report.gap),
            ":assets": {"L": [{"M": to_item(row)} for row in report_values(report)]},
            ":trigger": value(trigger),
            ":actor": value(actor),
            ":now": value(iso(now)),
            ":one": value(1),
        }
        update = {
            "TableName": self._table,
            "Key": day_key(day),
            "UpdateExpression": (
                "SET #entity = :entity, #date = :date, #status = :status, #gap = :gap, #assets = :assets, "
                "#trigger = :trigger, #actor = :actor, #last = :now, #first = if_not_exists(#first, :now) "
                "ADD #runs :one"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        puts = [put_new(self._table, r) for r in records]
        with translated_errors():
            if not puts:
                # Nothing to commit beside the day's record (the usual, balanced day): one UpdateItem that
                # answers the stored record, not a transaction (half the write cost on DynamoDB) plus a read.
                answer = self._client.update_item(**update, ReturnValues="ALL_NEW")
                return _record(answer["Attributes"])
            transact_write(self._client, [{"Update": update}, *puts])
            stored = self._client.get_item(TableName=self._table, Key=day_key(day), ConsistentRead=True)
        return _record(stored["Item"])

    def page(self, limit: int, cursor: str | None) -> ReconciliationPage:
        if not 1 <= limit <= 100:
            raise ValueError("limit must be 1..100")
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PARTITION}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor:
            request["ExclusiveStartKey"] = day_key(_decode_cursor(cursor))
        with translated_errors():
            response = self._client.query(**request)
        items = response.get("Items", [])
        page = [_record(item) for item in items[:limit]]
        next_cursor = _encode_cursor(page[-1].date) if len(items) > limit and page else None
        return ReconciliationPage(page, next_cursor)


def _record(item: dict[str, Any]) -> Reconciliation:
    values = from_item(item)
    return Reconciliation(
        date=date.fromisoformat(values["date"]),
        report=report_from_values(values["assets"]),
        trigger=values["trigger"],
        actor=values["actor"],
        runs=int(values["runs"]),
        first_run_at=datetime.fromisoformat(values["first_run_at"]),
        last_run_at=datetime.fromisoformat(values["last_run_at"]),
    )


def _encode_cursor(day: date) -> str:
    return base64.urlsafe_b64encode(day.isoformat().encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> date:
    invalid = ValidationFailed(
        "cursor is invalid",
        [{"field": "cursor", "message": "not a cursor from this list", "type": "value_error"}],
    )
    if len(cursor) > 64 or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise invalid
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not _DAY.fullmatch(text):
            raise invalid
        return date.fromisoformat(text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid from exc
