"""SwapStore on the one table: quotes `CONSUMER#{tenant}#{user}` / `SWAPQUOTE#{id}` (TTL'd soon after they
expire, used at most once) and swaps `SWAP#{id}` with the quote they carried out and their state; a swap in
the claim index (gsi3) from its hold to its end, so the sweeper finishes one nobody retried."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.adapters.dynamodb_claims import REMOVE_INDEX, due_attributes
from shared.adapters.dynamodb_consumer import consumer_pk
from shared.adapters.dynamodb_table import (
    from_item,
    get_consistent,
    put_new,
    to_item,
    translated_errors,
    value,
)
from shared.consumer.swaps import Quote, Swap, SwapState
from shared.outbox.records import iso
from shared.sweeper.ports import CLAIM_DEADLINE

_QUOTE, _SWAP = "SWAPQUOTE#", "SWAP#"
# A quote is answered "expired" for a day after it ran out, then TTL takes it.
_QUOTE_RETENTION = timedelta(days=1)


def _key(tenant_id: str, user_id: str, sort: str) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": sort}}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _quote_record(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.id,
        "tenant_id": quote.tenant_id,
        "user_id": quote.user_id,
        "from_coin": quote.from_coin,
        "to_coin": quote.to_coin,
        "amount": quote.amount,
        "burned": quote.burned,
        "fee": quote.fee,
        "rate": str(quote.rate),
        "to_amount": quote.to_amount,
        "created_at": iso(quote.created_at),
        "expires_at": iso(quote.expires_at),
    }


def _quote_of(values: dict[str, Any]) -> Quote:
    return Quote(
        id=values["quote_id"],
        tenant_id=values["tenant_id"],
        user_id=values["user_id"],
        from_coin=values["from_coin"],
        to_coin=values["to_coin"],
        amount=int(values["amount"]),
        burned=int(values["burned"]),
        fee=int(values["fee"]),
        rate=Decimal(values["rate"]),
        to_amount=int(values["to_amount"]),
        created_at=_time(values["created_at"]),
        expires_at=_time(values["expires_at"]),
    )


class DynamoDBSwapStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put_quote(self, quote: Quote) -> None:
        item = {
            "pk": consumer_pk(quote.tenant_id, quote.user_id),
            "sk": f"{_QUOTE}{quote.id}",
            "entity": "consumer_swap_quote",
            **_quote_record(quote),
            "ttl": int((quote.expires_at + _QUOTE_RETENTION).timestamp()),
        }
        with translated_errors():
            self._client.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )

    def quote(self, tenant_id: str, user_id: str, quote_id: str) -> Quote | None:
        item = get_consistent(self._client, self._table, _key(tenant_id, user_id, f"{_QUOTE}{quote_id}"))
        return _quote_of(from_item(item)) if item else None

    def swap_of(self, tenant_id: str, user_id: str, swap_id: str) -> Swap | None:
        item = get_consistent(self._client, self._table, _key(tenant_id, user_id, f"{_SWAP}{swap_id}"))
        if item is None:
            return None
        values = from_item(item)
        return Swap(
            id=values["swap_id"],
            quote=_quote_of(values["quote"]),
            wallet_id=values["wallet_id"],
            provider=values["provider"],
            state=SwapState(values["state"]),
            transaction_id=values["transaction_id"],
            created_at=_time(values["created_at"]),
            settled_at=_time(values["settled_at"]) if values.get("settled_at") else None,
        )

    def start(self, swap: Swap, now: datetime) -> list[Any]:
        quote = swap.quote
        use = {
            "Update": {
                "TableName": self._table,
                "Key": _key(quote.tenant_id, quote.user_id, f"{_QUOTE}{quote.id}"),
                "UpdateExpression": "SET #used = :swap",
                "ConditionExpression": (
                    "attribute_exists(pk) AND attribute_not_exists(#used) AND #expires > :now"
                ),
                "ExpressionAttributeNames": {"#used": "used_by", "#expires": "expires_at"},
                "ExpressionAttributeValues": {":swap": value(swap.id), ":now": value(iso(now))},
            }
        }
        pk, sk = consumer_pk(quote.tenant_id, quote.user_id), f"{_SWAP}{swap.id}"
        record = {
            **due_attributes(pk, sk, now + CLAIM_DEADLINE),
            "pk": pk,
            "sk": sk,
            "entity": "consumer_swap",
            "swap_id": swap.id,
            "tenant_id": quote.tenant_id,
            "user_id": quote.user_id,
            "quote": _quote_record(quote),
            "wallet_id": swap.wallet_id,
            "provider": swap.provider,
            "state": swap.state.value,
            "transaction_id": swap.transaction_id,
            "created_at": iso(swap.created_at),
        }
        return [use, put_new(self._table, record)]

    def finish(self, swap: Swap) -> Any:
        quote = swap.quote
        return {
            "Update": {
                "TableName": self._table,
                "Key": _key(quote.tenant_id, quote.user_id, f"{_SWAP}{swap.id}"),
                "UpdateExpression": "SET #state = :state, #settled = :settled " + REMOVE_INDEX,
                "ConditionExpression": "#state = :processing",
                "ExpressionAttributeNames": {"#state": "state", "#settled": "settled_at"},
                "ExpressionAttributeValues": {
                    ":state": value(swap.state.value),
                    ":settled": value(iso(swap.settled_at or swap.created_at)),
                    ":processing": value(SwapState.PROCESSING.value),
                },
            }
        }
