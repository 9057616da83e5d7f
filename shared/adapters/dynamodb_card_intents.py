"""Card intents on the one table: `WALLET#{id}`/`CARDINTENT` is written (with a claim deadline in the gsi3
index) before a wallet's card is asked of Stripe and deleted by the wallet's commit; `WALLET#{id}`/
`CARDCANCEL#{generation}` is the sweeper's record of a card whose wallet never committed, due until the card
is cancelled and then kept as the record of that cancellation (card id, time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_claims import REMOVE_INDEX, SET_DUE, due_attributes, due_values
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    translated_errors,
    value,
)
from shared.outbox.records import iso
from shared.sweeper.ports import CLAIM_DEADLINE
from shared.wallets.ports import CardIntent

INTENT_SK = "CARDINTENT"
OPEN, FENCED, CANCELLING, CANCELLED = "open", "fenced", "cancelling", "cancelled"


def _pk(wallet_id: str) -> str:
    return f"WALLET#{wallet_id}"


def intent_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": _pk(wallet_id)}, "sk": {"S": INTENT_SK}}


def cancellation_sk(generation: int) -> str:
    return f"CARDCANCEL#{generation:06d}"


def open_intent(client: Any, table: str, intent: CardIntent, now: datetime) -> int:
    """Write or renew the intent (a new deadline, same generation); returns the generation."""
    pk = _pk(intent.wallet_id)
    with translated_errors():
        response = client.update_item(
            TableName=table,
            Key=intent_key(intent.wallet_id),
            UpdateExpression="SET entity = :entity, wallet_id = :wallet, tenant_id = :tenant, "
            "cardholder_ref = :holder, spending_limit_minor = :limit, currency = :currency, "
            "#state = :open, updated_at = :now, "
            "#generation = if_not_exists(#generation, :zero), " + SET_DUE,
            ExpressionAttributeNames={"#state": "state", "#generation": "generation"},
            ExpressionAttributeValues={
                ":entity": value("card_intent"),
                ":wallet": value(intent.wallet_id),
                ":tenant": value(intent.tenant_id),
                ":holder": value(intent.cardholder_ref),
                ":limit": value(intent.spending_limit_minor),
                ":currency": value(intent.currency),
                ":open": value(OPEN),
                ":now": value(iso(now)),
                ":zero": value(0),
                **due_values(pk, INTENT_SK, now + CLAIM_DEADLINE),
            },
            ReturnValues="ALL_NEW",
        )
    return int(response["Attributes"]["generation"]["N"])


def drop_intent(table: str, wallet_id: str, generation: int) -> dict[str, Any]:
    """The commit's Delete of the intent its card was made under; it fails if the sweeper fenced it."""
    return {
        "Delete": {
            "TableName": table,
            "Key": intent_key(wallet_id),
            "ConditionExpression": "#generation = :generation AND #state = :open",
            "ExpressionAttributeNames": {"#generation": "generation", "#state": "state"},
            "ExpressionAttributeValues": {":generation": value(generation), ":open": value(OPEN)},
        }
    }


def _intent_of(item: dict[str, Any] | None) -> CardIntent | None:
    if item is None:
        return None
    values = from_item(item)
    return CardIntent(
        wallet_id=str(values["wallet_id"]),
        tenant_id=str(values["tenant_id"]),
        cardholder_ref=str(values["cardholder_ref"]),
        spending_limit_minor=int(values["spending_limit_minor"]),
        currency=str(values["currency"]),
        generation=int(values["generation"]),
    )


class DynamoDBCardIntentStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def card_intent(self, wallet_id: str) -> CardIntent | None:
        item = get_consistent(self._client, self._table, intent_key(wallet_id))
        if item is None or from_item(item).get("state") != OPEN:
            return None
        return _intent_of(item)

    def fence(self, intent: CardIntent, token: str, now: datetime) -> bool:
        pk = _pk(intent.wallet_id)
        sk = cancellation_sk(intent.generation)
        fenced = {
            "Update": {
                "TableName": self._table,
                "Key": intent_key(intent.wallet_id),
                "UpdateExpression": "SET #state = :fenced, #generation = :next, updated_at = :now "
                + REMOVE_INDEX,
                "ConditionExpression": "gsi3sk = :token AND #generation = :generation AND #state = :open",
                "ExpressionAttributeNames": {"#state": "state", "#generation": "generation"},
                "ExpressionAttributeValues": {
                    ":fenced": value(FENCED),
                    ":next": value(intent.generation + 1),
                    ":generation": value(intent.generation),
                    ":open": value(OPEN),
                    ":token": value(token),
                    ":now": value(iso(now)),
                },
            }
        }
        cancellation = put_new(
            self._table,
            {
                "pk": pk,
                "sk": sk,
                "entity": "card_cancel",
                "wallet_id": intent.wallet_id,
                "tenant_id": intent.tenant_id,
                "cardholder_ref": intent.cardholder_ref,
                "spending_limit_minor": intent.spending_limit_minor,
                "currency": intent.currency,
                "generation": intent.generation,
                "state": CANCELLING,
                "created_at": iso(now),
                # Due at once: a crash before the card is cancelled leaves it for the next run.
                **due_attributes(pk, sk, now),
            },
        )
        try:
            self._client.transact_write_items(TransactItems=[fenced, cancellation])
        except ClientError as exc:
            if 0 in failed_conditions(exc):
                return False  # renewed by a creation (or fenced by another sweep) since it was read
            with translated_errors():
                raise
        return True

    def cancellation(self, wallet_id: str, generation: int) -> CardIntent | None:
        key = {"pk": {"S": _pk(wallet_id)}, "sk": {"S": cancellation_sk(generation)}}
        return _intent_of(get_consistent(self._client, self._table, key))

    def cancelled(self, intent: CardIntent, card_id: str, now: datetime) -> None:
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(intent.wallet_id)}, "sk": {"S": cancellation_sk(intent.generation)}},
                UpdateExpression="SET #state = :cancelled, card_id = :card, cancelled_at = :now "
                + REMOVE_INDEX,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":cancelled": value(CANCELLED),
                    ":card": value(card_id),
                    ":now": value(iso(now)),
                },
            )
