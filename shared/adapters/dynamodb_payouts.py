"""Payouts on the one table: `PAYOUT#{id}`/`META` (status, approvals, totals, version), `/CHUNK#nnnnn` (up
to CHUNK_ITEMS items with their states, versioned), `PAYOUTREF#{tenant}#{reference}` (the reference's 30-day
claim) and `TENANT#{tenant}`/`PAYOUT_POLICY` (`approvals_required`, set by the operator; absent means 1)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import (
    batch_write_all,
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    to_item,
    translated_errors,
)
from shared.outbox.records import Record, iso
from shared.payouts.ports import ReferenceTaken
from shared.payouts.records import Payout, PayoutChunk, PayoutItem, PayoutStatus

DEFAULT_APPROVALS = 1


def claim_marker_item(wallet_id: str, payout_id: str, chunk: int, index: int) -> dict[str, Any]:
    """Put with a payroll claim wallet: which payout item it holds."""
    return {
        "pk": f"PAYROLL#{wallet_id}",
        "sk": "ITEM",
        "payout_id": payout_id,
        "chunk": chunk,
        "index": index,
    }


def claim_marker_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PAYROLL#{wallet_id}"}, "sk": {"S": "ITEM"}}


def _pk(payout_id: str) -> str:
    return f"PAYOUT#{payout_id}"


def _meta_key(payout_id: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(payout_id)}, "sk": {"S": "META"}}


def _chunk_sk(number: int) -> str:
    return f"CHUNK#{number:05d}"


def _ref_key(tenant_id: str, reference: str) -> dict[str, Any]:
    return {"pk": {"S": f"PAYOUTREF#{tenant_id}#{reference}"}, "sk": {"S": "REF"}}


class DynamoDBPayoutStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(
        self, payout: Payout, chunks: Sequence[PayoutChunk], reference_until: datetime, records: list[Record]
    ) -> None:
        for start in range(0, len(chunks), 25):
            requests = [{"PutRequest": {"Item": to_item(_chunk_item(c))}} for c in chunks[start : start + 25]]
            batch_write_all(self._client, self._table, requests, "the payout's items")
        reference = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **_ref_key(payout.tenant_id, payout.reference),
                    **to_item(
                        {
                            "payout_id": payout.id,
                            "expires_at": iso(reference_until),
                            "ttl": int(reference_until.timestamp()),
                        }
                    ),
                },
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"S": iso(payout.created_at)}},
            }
        }
        operations = [reference, put_new(self._table, _payout_item(payout)), *self.records(records)]
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            if 0 in failed_conditions(exc):
                item = get_consistent(self._client, self._table, _ref_key(payout.tenant_id, payout.reference))
                if item is not None:
                    raise ReferenceTaken(item["payout_id"]["S"]) from None
            with translated_errors():
                raise

    def get(self, payout_id: str) -> Payout | None:
        item = get_consistent(self._client, self._table, _meta_key(payout_id))
        return _payout(from_item(item)) if item else None

    def chunks(self, payout_id: str) -> list[PayoutChunk]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :chunk)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(payout_id)}, ":chunk": {"S": "CHUNK#"}},
            "ConsistentRead": True,
        }
        found: list[PayoutChunk] = []
        while True:
            with translated_errors():
                page = self._client.query(**request)
            found += [_chunk(from_item(item)) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def chunk(self, payout_id: str, number: int) -> PayoutChunk | None:
        key = {"pk": {"S": _pk(payout_id)}, "sk": {"S": _chunk_sk(number)}}
        item = get_consistent(self._client, self._table, key)
        return _chunk(from_item(item)) if item else None

    def claim_marker(self, wallet_id: str) -> tuple[str, int, int] | None:
        item = get_consistent(self._client, self._table, claim_marker_key(wallet_id))
        if item is None:
            return None
        values = from_item(item)
        return values["payout_id"], int(values["chunk"]), int(values["index"])

    def claim_marker_record(self, wallet_id: str, payout_id: str, chunk: int, index: int) -> Record:
        return claim_marker_item(wallet_id, payout_id, chunk, index)

    def approvals_required(self, tenant_id: str) -> int:
        key = {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "PAYOUT_POLICY"}}
        item = get_consistent(self._client, self._table, key)
        if item is None or "approvals_required" not in item:
            return DEFAULT_APPROVALS
        return max(DEFAULT_APPROVALS, int(item["approvals_required"]["N"]))

    def payout_change(self, before: Payout, after: Payout) -> Any:
        return self._versioned(_payout_item(after), before.version)

    def chunk_change(self, before: PayoutChunk, after: PayoutChunk) -> Any:
        return self._versioned(_chunk_item(after), before.version)

    def records(self, records: Sequence[Record]) -> list[Any]:
        return [put_new(self._table, record) for record in records]

    def write(self, operations: Sequence[Any]) -> None:
        with translated_errors():
            transact_write(self._client, operations)

    def _versioned(self, item: dict[str, Any], version: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(item),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        }


def _payout_item(payout: Payout) -> dict[str, Any]:
    return {
        "pk": _pk(payout.id),
        "sk": "META",
        "entity": "payout",
        "payout_id": payout.id,
        "tenant_id": payout.tenant_id,
        "purpose": payout.purpose,
        "reference": payout.reference,
        "created_by": payout.created_by,
        "created_at": iso(payout.created_at),
        "updated_at": iso(payout.updated_at),
        "status": payout.status.value,
        "approvals_required": payout.approvals_required,
        "totals": dict(payout.totals),
        "item_count": payout.item_count,
        "chunks": payout.chunks,
        "approvals": list(payout.approvals),
        "scheduled_for": iso(payout.scheduled_for) if payout.scheduled_for else None,
        "version": payout.version,
        "decided_by": payout.decided_by,
        "counts": dict(payout.counts),
    }


def _payout(values: dict[str, Any]) -> Payout:
    scheduled = values.get("scheduled_for")
    return Payout(
        id=values["payout_id"],
        tenant_id=values["tenant_id"],
        purpose=values["purpose"],
        reference=values["reference"],
        created_by=values["created_by"],
        created_at=datetime.fromisoformat(values["created_at"]),
        updated_at=datetime.fromisoformat(values["updated_at"]),
        status=PayoutStatus(values["status"]),
        approvals_required=int(values["approvals_required"]),
        totals={coin: int(n) for coin, n in values["totals"].items()},
        item_count=int(values["item_count"]),
        chunks=int(values["chunks"]),
        approvals=tuple(values.get("approvals") or ()),
        scheduled_for=datetime.fromisoformat(scheduled) if scheduled else None,
        version=int(values["version"]),
        decided_by=values.get("decided_by"),
        counts={status: int(n) for status, n in (values.get("counts") or {}).items()},
    )


def _chunk_item(chunk: PayoutChunk) -> dict[str, Any]:
    return {
        "pk": _pk(chunk.payout_id),
        "sk": _chunk_sk(chunk.number),
        "payout_id": chunk.payout_id,
        "number": chunk.number,
        "items": [item.stored() for item in chunk.items],
        "version": chunk.version,
    }


def _chunk(values: dict[str, Any]) -> PayoutChunk:
    items = tuple(PayoutItem.from_stored(_plain(item)) for item in values["items"])
    return PayoutChunk(values["payout_id"], int(values["number"]), items, int(values["version"]))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in values.items()}
