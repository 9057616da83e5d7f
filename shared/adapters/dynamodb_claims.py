"""The claim index on the one table: open claims with a deadline, found by the sweeper without a scan.

An open claim item (`FUNDING` while minting, `FUNDREFUND#` while its reversal or refund is due,
`FUNDPROCESSING#` while a bank payment settles, `DESTRUCTION` until it finishes, `REFUND` while a merchant's
refund is in flight, `CARDINTENT` while a wallet's card is asked for and its wallet not committed,
`CARDCANCEL#` until a card whose wallet never committed is cancelled, a consumer's `OP#`, `BATCH#` or `SWAP#`
while it has steps left) carries `gsi3pk` =
`CLAIMDUE#{shard}` and `gsi3sk` = `{deadline}|{pk}|{sk}`, written in the same write as the claim and removed
in the same write that settles it: gsi3 is sparse, so it holds open claims only. Shards spread the writes of
busy hours over several partitions; the sweeper reads each up to now. Any item with a `wallet_id` and an
`entity` named below can join (payout items will).
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_table import from_item, translated_errors, value
from shared.errors import ConcurrentUpdate
from shared.outbox.records import iso
from shared.sweeper.ports import ClaimKind, DueClaim

INDEX_NAME = "gsi3"
SHARDS = 4
INDEX_ATTRS = ("gsi3pk", "gsi3sk")
REMOVE_INDEX = "REMOVE gsi3pk, gsi3sk"
KIND_OF_ENTITY = {
    "wallet_funding": ClaimKind.FUNDING,
    "funding_refund": ClaimKind.FUNDING_REFUND,
    "funding_processing": ClaimKind.PAYMENT_PROCESSING,
    "wallet_destruction": ClaimKind.DESTRUCTION,
    "consumer_money_op": ClaimKind.CONSUMER_MONEY,
    "consumer_batch": ClaimKind.CONSUMER_BATCH,
    "consumer_swap": ClaimKind.CONSUMER_SWAP,
    "wallet_refund": ClaimKind.WALLET_REFUND,
    "card_intent": ClaimKind.CARD_INTENT,
    "card_cancel": ClaimKind.CARD_CANCEL,
}
# A consumer's claim names its record by this attribute (with `tenant_id` and `user_id`).
_CONSUMER_RECORD_ID = {
    ClaimKind.CONSUMER_MONEY: "op_id",
    ClaimKind.CONSUMER_BATCH: "batch_id",
    ClaimKind.CONSUMER_SWAP: "swap_id",
}


def due_partition(pk: str) -> str:
    return f"CLAIMDUE#{zlib.crc32(pk.encode()) % SHARDS}"


def due_attributes(pk: str, sk: str, due_at: datetime) -> dict[str, str]:
    """The index attributes of an open claim item (added to its Put)."""
    return {"gsi3pk": due_partition(pk), "gsi3sk": f"{iso(due_at)}|{pk}|{sk}"}


def due_values(pk: str, sk: str, due_at: datetime) -> dict[str, Any]:
    """`:claim_due_pk`/`:claim_due_sk` for an UpdateExpression's `gsi3pk = :claim_due_pk, gsi3sk = ...`."""
    attributes = due_attributes(pk, sk, due_at)
    return {":claim_due_pk": value(attributes["gsi3pk"]), ":claim_due_sk": value(attributes["gsi3sk"])}


SET_DUE = "gsi3pk = :claim_due_pk, gsi3sk = :claim_due_sk"


class DynamoDBClaimIndex:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def due(self, now: datetime, limit: int) -> list[DueClaim]:
        # '}' sorts right after '|': every position whose deadline is at or before `now`.
        bound = iso(now) + "}"
        found: list[DueClaim] = []
        for shard in range(SHARDS):
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": INDEX_NAME,
                "KeyConditionExpression": "gsi3pk = :pk AND gsi3sk < :bound",
                "ExpressionAttributeValues": {":pk": value(f"CLAIMDUE#{shard}"), ":bound": value(bound)},
                "Limit": limit,
            }
            while True:
                with translated_errors():
                    page = self._client.query(**request)
                found.extend(c for c in map(_claim_of, page.get("Items", [])) if c is not None)
                start = page.get("LastEvaluatedKey")
                if not start or len(found) >= limit * (shard + 1):
                    break
                request["ExclusiveStartKey"] = start
        found.sort(key=lambda claim: claim.token)
        return found[:limit]

    def settle(self, claim: DueClaim) -> None:
        self._moved(claim, REMOVE_INDEX, {})

    def postpone(self, claim: DueClaim, until: datetime) -> None:
        pk, sk = _keys(claim.token)
        self._moved(claim, "SET " + SET_DUE, due_values(pk, sk, until))

    def _moved(self, claim: DueClaim, update: str, values: dict[str, Any]) -> None:
        pk, sk = _keys(claim.token)
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": pk}, "sk": {"S": sk}},
                    UpdateExpression=update,
                    ConditionExpression="gsi3sk = :token",
                    ExpressionAttributeValues={":token": value(claim.token), **values},
                )
        except ConcurrentUpdate:
            # Settled or given a new deadline by its own path meanwhile: that position is not ours to move.
            return


def _keys(token: str) -> tuple[str, str]:
    _, pk, sk = token.split("|", 2)
    return pk, sk


def _claim_of(item: dict[str, Any]) -> DueClaim | None:
    values = from_item(item)
    kind = KIND_OF_ENTITY.get(str(values.get("entity", "")))
    token = str(values.get("gsi3sk", ""))
    if kind is None or not values.get("wallet_id") or token.count("|") < 2:
        return None
    return DueClaim(
        kind,
        str(values["wallet_id"]),
        datetime.fromisoformat(token.split("|", 1)[0].replace("Z", "+00:00")),
        str(values["intent_id"]) if values.get("intent_id") else None,
        token,
        reference=_consumer_reference(kind, values),
        generation=int(values["generation"]) if values.get("generation") is not None else None,
    )


def _consumer_reference(kind: ClaimKind, values: dict[str, Any]) -> str | None:
    record_id = _CONSUMER_RECORD_ID.get(kind)
    if record_id is None:
        return None
    return f"{values['tenant_id']}|{values['user_id']}|{values[record_id]}"
