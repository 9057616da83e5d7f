"""WalletRepository: wallet, card, invoice uniqueness, lease and counters on the one table; the sealed keys
in the wallet key table (no stream, no PITR), written in the same transactions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_card_intents import drop_intent, open_intent
from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    to_item,
    translated_errors,
    value,
)
from shared.crypto.envelope import SealedSecret
from shared.errors import ConcurrentUpdate, live_ephemeral_cap_reached
from shared.models.wallet import Card, Wallet
from shared.outbox.records import Record, iso
from shared.wallets.ports import CardIntent, NewWallet, WalletPage
from shared.wallets.stats import LIVE_EPHEMERAL

META, KEYS, CARD = "META", "KEYS", "CARD"
_KEY_ATTRS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "entity")
_ORDER = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#(wal_[0-9a-z]{24})$")
_MAX_QUERIES_PER_PAGE = 10
_COUNTER_NAME = re.compile(r"^[a-z_]{1,40}$")
# Attributes that leave a wallet's META when it leaves the active set (destroyed or expired).
ACTIVE_SET_ATTRS = ("gsi2pk", "gsi2sk")


def wallet_pk(wallet_id: str) -> str:
    return f"WALLET#{wallet_id}"


def invoice_wallet_key(invoice_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"INVOICEWALLET#{invoice_id}"}, "sk": {"S": "UNIQUE"}}


def lease_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"LEASE#{wallet_id}"}, "sk": {"S": "LEASE"}}


def stats_key(tenant_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"STATS#{tenant_id}"}, "sk": {"S": "WALLETS"}}


def active_partition(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#WALLETS#ACTIVE"


def wallet_item(wallet: Wallet) -> dict[str, Any]:
    order = f"{iso(wallet.created_at)}#{wallet.wallet_id}"
    body = wallet.model_dump(mode="python")
    for stamp in ("created_at", "updated_at", "expires_at", "transformed_at"):
        body[stamp] = iso(body[stamp]) if body[stamp] else None
    return {
        "pk": wallet_pk(wallet.wallet_id),
        "sk": META,
        "entity": "wallet",
        "gsi1pk": f"TENANT#{wallet.tenant_id}#WALLETS",
        "gsi1sk": order,
        "gsi2pk": active_partition(wallet.tenant_id),
        "gsi2sk": order,
        **body,
        "wallet_type": wallet.wallet_type.value,
        "status": wallet.status.value,
    }


def wallet_from_item(item: dict[str, Any]) -> Wallet:
    values = from_item(item)
    for key in _KEY_ATTRS:
        values.pop(key, None)
    return Wallet.model_validate(values)


def keys_item(wallet_id: str, sealed: SealedSecret, sealed_at: datetime) -> dict[str, Any]:
    return {
        "pk": wallet_pk(wallet_id),
        "sk": KEYS,
        "entity": "wallet_keys",
        "ciphertext": sealed.ciphertext,
        "nonce": sealed.nonce,
        "wrapped_key": sealed.wrapped_key,
        "key_id": sealed.key_id,
        "algorithm": sealed.algorithm,
        "sealed_at": iso(sealed_at),
    }


def card_item(card: Card, issued_at: datetime) -> dict[str, Any]:
    return {
        "pk": wallet_pk(card.wallet_id),
        "sk": CARD,
        "entity": "wallet_card",
        **card.model_dump(),
        "issued_at": iso(issued_at),
    }


def erase_keys_update(key_table: str, wallet_id: str, erased_at: datetime) -> dict[str, Any]:
    """The transaction operation of a cryptographic erase, for the destroy flow's own transaction.

    The key table keeps no stream and no backups, so once this commits the wrapped data key exists nowhere.
    """
    return {
        "Update": {
            "TableName": key_table,
            "Key": {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": KEYS}},
            "UpdateExpression": "REMOVE wrapped_key SET erased_at = if_not_exists(erased_at, :at)",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":at": value(iso(erased_at))},
        }
    }


def stats_update(
    table: str, tenant_id: str, deltas: dict[str, int], below: tuple[str, int] | None = None
) -> dict[str, Any]:
    """ADD the counter deltas to the tenant's counters item (created on first use); never a scan. With
    `below` (counter, cap) the update holds only while that counter is under the cap."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds = []
    for index, (name, delta) in enumerate(sorted(deltas.items())):
        if not _COUNTER_NAME.fullmatch(name):
            raise ValueError(f"bad counter name {name!r}")
        names[f"#c{index}"] = name
        values[f":c{index}"] = {"N": str(int(delta))}
        adds.append(f"#c{index} :c{index}")
    names["#tenant"] = "tenant_id"
    values[":tenant"] = value(tenant_id)
    update: dict[str, Any] = {
        "TableName": table,
        "Key": stats_key(tenant_id),
        "UpdateExpression": "SET #tenant = :tenant ADD " + ", ".join(adds),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if below is not None:
        counter, cap = below
        if not _COUNTER_NAME.fullmatch(counter):
            raise ValueError(f"bad counter name {counter!r}")
        names["#capped"] = counter
        values[":cap"] = {"N": str(int(cap))}
        update["ConditionExpression"] = "attribute_not_exists(#capped) OR #capped < :cap"
    return {"Update": update}


class DynamoDBWalletRepository:
    def __init__(self, client: Any, table_name: str, *, key_table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._key_table = key_table_name

    # -- writes --------------------------------------------------------------------------------------
    def create(self, new: NewWallet) -> None:
        wallet = new.wallet
        operations = [
            self._put_new(wallet_item(wallet)),
            put_new(self._key_table, keys_item(wallet.wallet_id, new.sealed_keys, wallet.created_at)),
        ]
        if new.card is not None:
            operations.append(self._put_new(card_item(new.card, wallet.created_at)))
        if new.card_generation is not None:
            operations.append(drop_intent(self._table, wallet.wallet_id, new.card_generation))
        if wallet.invoice_id is not None:
            # The database, not a prior read, keeps one wallet per invoice: this put fails for every
            # creation but the first, in the same transaction as everything else.
            unique = {
                "pk": f"INVOICEWALLET#{wallet.invoice_id}",
                "sk": "UNIQUE",
                "entity": "invoice_wallet",
                "wallet_id": wallet.wallet_id,
                "tenant_id": wallet.tenant_id,
                "created_at": iso(wallet.created_at),
            }
            operations.append(self._put_new(unique))
        if wallet.expires_at is not None:
            lease = {
                "pk": f"LEASE#{wallet.wallet_id}",
                "sk": "LEASE",
                "entity": "wallet_lease",
                "wallet_id": wallet.wallet_id,
                "tenant_id": wallet.tenant_id,
                "expires_at": iso(wallet.expires_at),
                "ttl": int(wallet.expires_at.timestamp()),
            }
            operations.append(self._put_new(lease))
        operations.extend(self._put_new(record) for record in new.records)
        cap = new.live_ephemeral_cap if LIVE_EPHEMERAL in new.stats else None
        if new.stats:
            below = (LIVE_EPHEMERAL, cap) if cap is not None else None
            operations.append(stats_update(self._table, wallet.tenant_id, new.stats, below))
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            # The counters' update is the last operation: its condition failing is the cap, not a race.
            if cap is not None and len(operations) - 1 in failed_conditions(exc):
                raise live_ephemeral_cap_reached(cap) from None
            with translated_errors():
                raise

    def transform(
        self,
        updated: Wallet,
        expected: Wallet,
        now: datetime,
        records: list[Record],
        stats: dict[str, int],
        also: Sequence[Any] = (),
    ) -> None:
        names = {
            "#type": "wallet_type",
            "#status": "status",
            "#version": "version",
            "#updated": "updated_at",
            "#transformed": "transformed_at",
            "#expires": "expires_at",
            "#ttl": "ttl_seconds",
        }
        values = {
            ":type": value(updated.wallet_type.value),
            ":version": value(updated.version),
            ":updated": value(iso(updated.updated_at)),
            ":transformed": value(iso(now)),
            ":expected_type": value(expected.wallet_type.value),
            ":expected_status": value(expected.status.value),
            ":expected_version": value(expected.version),
        }
        condition = "#type = :expected_type AND #status = :expected_status AND #version = :expected_version"
        if expected.expires_at is not None:
            # ISO strings of one format compare as instants: an expiry that passed after our read wins.
            condition += " AND #expires > :now"
            values[":now"] = value(iso(now))
        update = {
            "TableName": self._table,
            "Key": {"pk": {"S": wallet_pk(updated.wallet_id)}, "sk": {"S": META}},
            "UpdateExpression": "SET #type = :type, #version = :version, #updated = :updated, "
            "#transformed = :transformed REMOVE #expires, #ttl",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        operations: list[dict[str, Any]] = [{"Update": update}]
        if expected.expires_at is not None:
            # The lease goes with the countdown, so its TTL deletion can never start a destruction.
            operations.append({"Delete": {"TableName": self._table, "Key": lease_key(updated.wallet_id)}})
        operations.extend(self._put_new(record) for record in records)
        operations.append(stats_update(self._table, updated.tenant_id, stats))
        operations.extend(also)
        self._transact(operations)

    def erase_keys(self, wallet_id: str, erased_at: datetime, records: list[Record]) -> None:
        self._transact(
            [erase_keys_update(self._key_table, wallet_id, erased_at), *(self._put_new(r) for r in records)]
        )

    def remember_cardholder(self, tenant_id: str, cardholder_ref: str) -> str:
        item = {
            "pk": f"TENANT#{tenant_id}",
            "sk": "CARDHOLDER",
            "entity": "cardholder",
            "cardholder_ref": cardholder_ref,
        }
        try:
            with translated_errors():
                self._client.put_item(
                    TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
        except ConcurrentUpdate:
            stored = self.cardholder(tenant_id)
            if stored is None:
                raise
            return stored
        return cardholder_ref

    def open_card_intent(self, intent: CardIntent, now: datetime) -> int:
        return open_intent(self._client, self._table, intent, now)

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, wallet_id: str) -> Wallet | None:
        item = self._get({"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": META}})
        return wallet_from_item(item) if item else None

    def wallet_id_for_invoice(self, invoice_id: str) -> tuple[str, str] | None:
        item = self._get(invoice_wallet_key(invoice_id))
        if item is None:
            return None
        return item["wallet_id"]["S"], item["tenant_id"]["S"]

    def get_card(self, wallet_id: str) -> Card | None:
        item = self._get({"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": CARD}})
        if item is None:
            return None
        values = from_item(item)
        return Card.model_validate({name: values[name] for name in Card.model_fields})

    def sealed_keys(self, wallet_id: str) -> SealedSecret | None:
        key = {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": KEYS}}
        item = get_consistent(self._client, self._key_table, key)
        if item is None:
            return None
        wrapped = item.get("wrapped_key")
        return SealedSecret(
            ciphertext=bytes(item["ciphertext"]["B"]),
            nonce=bytes(item["nonce"]["B"]),
            wrapped_key=bytes(wrapped["B"]) if wrapped else None,
            key_id=item["key_id"]["S"],
            algorithm=item["algorithm"]["S"],
        )

    def stats(self, tenant_id: str) -> dict[str, int]:
        item = self._get(stats_key(tenant_id))
        if item is None:
            return {}
        return {name: int(raw["N"]) for name, raw in item.items() if "N" in raw}

    def cardholder(self, tenant_id: str) -> str | None:
        item = self._get({"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "CARDHOLDER"}})
        return item["cardholder_ref"]["S"] if item else None

    def active_page(self, tenant_id: str, limit: int, cursor: str | None) -> WalletPage:
        partition = active_partition(tenant_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi2",
            "KeyConditionExpression": "gsi2pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": partition}},
            "ScanIndexForward": False,
        }
        start = decode_active_cursor(cursor, partition) if cursor else None
        collected: list[dict[str, Any]] = []
        for _ in range(_MAX_QUERIES_PER_PAGE):
            page_request = dict(request, Limit=limit + 1 - len(collected))
            if start:
                page_request["ExclusiveStartKey"] = start
            with translated_errors():
                response = self._client.query(**page_request)
            collected.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if len(collected) > limit or not start:
                break
        items = collected[:limit]
        more = len(collected) > limit or start is not None
        next_cursor = encode_cursor(items[-1], _ACTIVE_KEYS) if more and items else None
        return WalletPage([wallet_from_item(item) for item in items], next_cursor)

    # -- plumbing ------------------------------------------------------------------------------------
    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return get_consistent(self._client, self._table, key)

    def _put_new(self, item: Record) -> dict[str, Any]:
        return put_new(self._table, item)

    def _transact(self, operations: list[dict[str, Any]]) -> None:
        with translated_errors():
            transact_write(self._client, operations)


_ACTIVE_KEYS = ("pk", "sk", "gsi2pk", "gsi2sk")


def decode_active_cursor(cursor: str, partition: str) -> dict[str, Any]:
    """The ExclusiveStartKey of a cursor this list issued for this tenant; anything else is refused."""

    def issued_here(plain: dict[str, str]) -> bool:
        match = _ORDER.fullmatch(plain["gsi2sk"])
        return (
            plain["gsi2pk"] == partition
            and match is not None
            and plain["pk"] == wallet_pk(match.group(1))
            and plain["sk"] == META
        )

    return decode_cursor(cursor, _ACTIVE_KEYS, issued_here)
