"""BatchStore on the one table: a consumer's batch transfer as one item `CONSUMER#{tenant}#{user}` /
`BATCH#{id}` holding its items, each item changed only from the status and attempt it was read in. While any
item is held and not yet paid or failed, the batch is in the claim index (gsi3): the sweeper finishes it if
nobody retries it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_claims import REMOVE_INDEX, SET_DUE, due_attributes, due_values
from shared.adapters.dynamodb_consumer import consumer_pk
from shared.adapters.dynamodb_table import from_item, get_consistent, put_new, value
from shared.consumer.batch_records import OPEN_ITEMS, Batch, BatchItem, ItemStatus
from shared.outbox.records import iso
from shared.sweeper.ports import CLAIM_DEADLINE

_BATCH = "BATCH#"


def _key(tenant_id: str, user_id: str, batch_id: str) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": f"{_BATCH}{batch_id}"}}


class DynamoDBBatchStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def batch(self, tenant_id: str, user_id: str, batch_id: str) -> Batch | None:
        item = get_consistent(self._client, self._table, _key(tenant_id, user_id, batch_id))
        if item is None:
            return None
        values = from_item(item)
        return Batch(
            id=values["batch_id"],
            tenant_id=values["tenant_id"],
            user_id=values["user_id"],
            wallet_id=values["wallet_id"],
            reference=values.get("reference"),
            created_at=datetime.fromisoformat(values["created_at"].replace("Z", "+00:00")),
            items=tuple(BatchItem.from_record(raw) for raw in values["items"]),
        )

    def new_batch(self, batch: Batch) -> dict[str, Any]:
        pk, sk = consumer_pk(batch.tenant_id, batch.user_id), f"{_BATCH}{batch.id}"
        return put_new(
            self._table,
            {
                **due_attributes(pk, sk, batch.created_at + CLAIM_DEADLINE),
                "pk": pk,
                "sk": sk,
                "entity": "consumer_batch",
                "batch_id": batch.id,
                "tenant_id": batch.tenant_id,
                "user_id": batch.user_id,
                "wallet_id": batch.wallet_id,
                "reference": batch.reference,
                "created_at": iso(batch.created_at),
                "items": [item.to_record() for item in batch.items],
            },
        )

    def item_changes(
        self, batch: Batch, changes: list[tuple[BatchItem, BatchItem]], now: datetime
    ) -> dict[str, Any]:
        """One Update of the batch item replacing each changed item, guarded by the status and attempt each
        was read in (its `version`): two runs of the same items (a retry racing a retry) cannot both move
        them. Names stay short: 100 items' conditions must fit DynamoDB's 4 KB per expression.

        With items still open after the change the claim's deadline moves to `now` + CLAIM_DEADLINE; the
        change that closes the last one takes the batch out of the index, only while its failed items are
        as read (a retry reopening them meanwhile keeps it in)."""
        sets, conditions = [], []
        names = {"#i": "items", "#v": "version"}
        values: dict[str, Any] = {}
        for number, (before, after) in enumerate(changes):
            sets.append(f"#i[{before.index}] = :n{number}")
            conditions.append(f"#i[{before.index}].#v = :v{number}")
            values[f":n{number}"] = value(_plain(after.to_record()))
            values[f":v{number}"] = value(before.version)
        changed = {after.index: after for _, after in changes}
        items = [changed.get(item.index, item) for item in batch.items]
        key = _key(batch.tenant_id, batch.user_id, batch.id)
        if any(item.status in OPEN_ITEMS for item in items):
            sets.append(SET_DUE)
            values.update(due_values(key["pk"]["S"], key["sk"]["S"], now + CLAIM_DEADLINE))
            update = "SET " + ", ".join(sets)
        else:
            for item in batch.items:
                if item.index not in changed and item.status is ItemStatus.FAILED:
                    conditions.append(f"#i[{item.index}].#v = :f{item.index}")
                    values[f":f{item.index}"] = value(item.version)
            update = "SET " + ", ".join(sets) + " " + REMOVE_INDEX
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": update,
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {key: raw for key, raw in record.items() if raw is not None}
