"""ConsumerStore on the one table: profiles, email/phone uniqueness, limit counters and histories.

Items: `CONSUMER#{tenant}#{user}` holds `PROFILE`, the usage counters `USAGE#{daily|monthly}#{window}` (micro-
USD, each update guarded by `used <= limit - amount`) and the history lines `TXN#{iso}#{txn_id}`;
`CONSUMERKEY#{tenant}#{email|phone}#{sha256}`/`UNIQUE` names the one person holding an email or phone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_table import (
    from_item,
    get_consistent,
    put_new,
    translated_errors,
    value,
)
from shared.consumer.ports import CounterCharge, TransactionPage
from shared.consumer.records import (
    ConsumerTransaction,
    Preferences,
    Profile,
    TransactionStatus,
    TransactionType,
    Verification,
    Window,
)
from shared.outbox.records import Record, iso

PROFILE, UNIQUE = "PROFILE", "UNIQUE"
_TXN = "TXN#"
_MAX_QUERIES_PER_PAGE = 10
# Counters outlive their window long enough to answer about it, then TTL takes them.
_COUNTER_RETENTION = timedelta(days=40)


def consumer_pk(tenant_id: str, user_id: str) -> str:
    return f"CONSUMER#{tenant_id}#{user_id}"


def holder_key(tenant_id: str, kind: str, text: str) -> dict[str, Any]:
    # Hashed: an email may hold any character, and a key must never be forged from input.
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {"pk": {"S": f"CONSUMERKEY#{tenant_id}#{kind}#{digest}"}, "sk": {"S": UNIQUE}}


def _profile_key(tenant_id: str, user_id: str) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": PROFILE}}


def _usage_key(tenant_id: str, user_id: str, window: Window) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": f"USAGE#{window.counter_id}"}}


class DynamoDBConsumerStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- profiles -------------------------------------------------------------------------------------
    def profile(self, tenant_id: str, user_id: str) -> Profile | None:
        item = get_consistent(self._client, self._table, _profile_key(tenant_id, user_id))
        if item is None:
            return None
        values = from_item(item)
        prefs = values.get("preferences") or {}
        return Profile(
            tenant_id=values["tenant_id"],
            user_id=values["user_id"],
            email=values["email"],
            phone=values["phone"],
            wallet_id=values["wallet_id"],
            kyc_level=int(values["kyc_level"]),
            created_at=datetime.fromisoformat(values["created_at"]),
            preferences=Preferences(
                preferred_currency=prefs.get("preferred_currency", Preferences.preferred_currency),
                smart_routing=bool(prefs.get("smart_routing", True)),
                instant_notifications=bool(prefs.get("instant_notifications", True)),
                auto_pay=bool(prefs.get("auto_pay", False)),
            ),
            verification=(
                Verification.from_record(values["kyc_verification"])
                if values.get("kyc_verification")
                else None
            ),
            kyc_sessions=int(values.get("kyc_sessions", 0)),
            joined_wallets=tuple(values.get("joined_wallets") or ()),
        )

    def holder_of(self, tenant_id: str, kind: str, value_text: str) -> str | None:
        item = get_consistent(self._client, self._table, holder_key(tenant_id, kind, value_text))
        return item["user_id"]["S"] if item else None

    def onboarding_records(self, profile: Profile) -> list[dict[str, Any]]:
        created = iso(profile.created_at)
        body = {
            "pk": consumer_pk(profile.tenant_id, profile.user_id),
            "sk": PROFILE,
            "entity": "consumer_profile",
            "tenant_id": profile.tenant_id,
            "user_id": profile.user_id,
            "email": profile.email,
            "phone": profile.phone,
            "wallet_id": profile.wallet_id,
            "kyc_level": profile.kyc_level,
            "preferences": profile.preferences.to_api(),
            "created_at": created,
            "updated_at": created,
        }
        holders = [
            {
                **from_item(holder_key(profile.tenant_id, kind, text)),
                "entity": "consumer_unique",
                "kind": kind,
                "tenant_id": profile.tenant_id,
                "user_id": profile.user_id,
                "created_at": created,
            }
            for kind, text in (("email", profile.email), ("phone", profile.phone))
        ]
        return [body, *holders]

    def join_wallet(self, tenant_id: str, user_id: str, wallet_id: str, now: datetime) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _profile_key(tenant_id, user_id),
                "UpdateExpression": "SET #joined = list_append(if_not_exists(#joined, :none), :wallet), "
                "#updated = :now",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#joined": "joined_wallets", "#updated": "updated_at"},
                "ExpressionAttributeValues": {
                    ":none": {"L": []},
                    ":wallet": {"L": [{"S": wallet_id}]},
                    ":now": value(iso(now)),
                },
            }
        }

    def save_preferences(self, tenant_id: str, user_id: str, preferences: Preferences, now: datetime) -> None:
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key=_profile_key(tenant_id, user_id),
                UpdateExpression="SET #prefs = :prefs, #updated = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#prefs": "preferences", "#updated": "updated_at"},
                ExpressionAttributeValues={":prefs": value(preferences.to_api()), ":now": value(iso(now))},
            )

    # -- limits and movements -------------------------------------------------------------------------
    def usage(self, tenant_id: str, user_id: str, windows: tuple[Window, ...]) -> dict[str, int]:
        keys = [_usage_key(tenant_id, user_id, window) for window in windows]
        with translated_errors():
            response = self._client.batch_get_item(
                RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
            )
        found = {
            item["sk"]["S"]: int(item["used"]["N"]) for item in response["Responses"].get(self._table, [])
        }
        if response.get("UnprocessedKeys"):
            return {w.counter_id: self._one_usage(tenant_id, user_id, w) for w in windows}
        return {window.counter_id: found.get(f"USAGE#{window.counter_id}", 0) for window in windows}

    def _one_usage(self, tenant_id: str, user_id: str, window: Window) -> int:
        item = get_consistent(self._client, self._table, _usage_key(tenant_id, user_id, window))
        return int(item["used"]["N"]) if item else 0

    def movement_operations(
        self,
        tenant_id: str,
        user_id: str,
        charges: list[CounterCharge],
        history: list[tuple[str, ConsumerTransaction]],
        events: list[Record],
    ) -> list[Any]:
        operations: list[Any] = [self._charge(tenant_id, user_id, charge) for charge in charges]
        operations += [put_new(self._table, self._line(tenant_id, owner, line)) for owner, line in history]
        operations += [put_new(self._table, event) for event in events]
        return operations

    def _charge(self, tenant_id: str, user_id: str, charge: CounterCharge) -> dict[str, Any]:
        room = charge.limit - charge.amount
        if room < 0:
            raise ValueError("a charge above its limit is refused before it is built")
        return {
            "Update": {
                "TableName": self._table,
                "Key": _usage_key(tenant_id, user_id, charge.window),
                "UpdateExpression": "SET #entity = :entity, #limit = :limit, #resets = :resets, #ttl = :ttl "
                "ADD #used :amount",
                # The limit check itself, in the movement's transaction: concurrent charges cannot both fit.
                "ConditionExpression": "attribute_not_exists(#used) OR #used <= :room",
                "ExpressionAttributeNames": {
                    "#entity": "entity",
                    "#limit": "limit",
                    "#resets": "resets_at",
                    "#ttl": "ttl",
                    "#used": "used",
                },
                "ExpressionAttributeValues": {
                    ":entity": value("consumer_usage"),
                    ":limit": value(charge.limit),
                    ":resets": value(iso(charge.window.resets_at)),
                    ":ttl": value(int((charge.window.resets_at + _COUNTER_RETENTION).timestamp())),
                    ":amount": value(charge.amount),
                    ":room": value(room),
                },
            }
        }

    def _line(self, tenant_id: str, owner: str, line: ConsumerTransaction) -> dict[str, Any]:
        return {
            "pk": consumer_pk(tenant_id, owner),
            "sk": f"{_TXN}{iso(line.created_at)}#{line.id}",
            "entity": "consumer_transaction",
            "transaction_id": line.id,
            "type": line.type.value,
            "amount": line.amount,
            "currency": line.currency,
            "status": line.status.value,
            "counterparty": line.counterparty,
            "provider": line.provider,
            "journal_id": line.journal_id,
            "memo": line.memo,
            "batch_id": line.batch_id,
            "created_at": iso(line.created_at),
            "settled_at": iso(line.settled_at) if line.settled_at else None,
        }

    # -- history --------------------------------------------------------------------------------------
    def transactions(
        self,
        tenant_id: str,
        user_id: str,
        kind: TransactionType | None,
        currency: str | None,
        limit: int,
        cursor: str | None,
    ) -> TransactionPage:
        partition = consumer_pk(tenant_id, user_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :txn)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":txn": {"S": _TXN}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        filters, names = [], {}
        if kind is not None:
            filters.append("#type = :type")
            names["#type"] = "type"
            request["ExpressionAttributeValues"][":type"] = {"S": kind.value}
        if currency is not None:
            filters.append("#currency = :currency")
            names["#currency"] = "currency"
            request["ExpressionAttributeValues"][":currency"] = {"S": currency}
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
            request["ExpressionAttributeNames"] = names
        if cursor:
            request["ExclusiveStartKey"] = decode_cursor(
                cursor, ("pk", "sk"), lambda plain: plain["pk"] == partition and plain["sk"].startswith(_TXN)
            )
        items: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for _ in range(_MAX_QUERIES_PER_PAGE):
            # One extra line tells whether another page exists; a filter may drop lines, so read on.
            request["Limit"] = limit + 1 - len(items) if not filters else max(25, limit + 1)
            with translated_errors():
                response = self._client.query(**request)
            items += response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if len(items) > limit or last is None:
                break
            request["ExclusiveStartKey"] = last
        page, more = items[:limit], len(items) > limit or (len(items) == limit and last is not None)
        if more and page:
            next_cursor: str | None = encode_cursor(page[-1], ("pk", "sk"))
        else:
            # Nothing matched in this many reads, but the list goes on: resume where the reading stopped.
            next_cursor = encode_cursor(last, ("pk", "sk")) if last is not None and not page else None
        return TransactionPage([_transaction(item) for item in page], next_cursor)


def _transaction(item: dict[str, Any]) -> ConsumerTransaction:
    values = from_item(item)
    return ConsumerTransaction(
        id=values["transaction_id"],
        type=TransactionType(values["type"]),
        amount=int(values["amount"]),
        currency=values["currency"],
        status=TransactionStatus(values["status"]),
        counterparty=values.get("counterparty"),
        provider=values.get("provider"),
        created_at=datetime.fromisoformat(values["created_at"]),
        settled_at=datetime.fromisoformat(values["settled_at"]) if values.get("settled_at") else None,
        journal_id=values.get("journal_id"),
        memo=values.get("memo"),
        batch_id=values.get("batch_id"),
    )
