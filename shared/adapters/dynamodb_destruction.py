"""DestructionStore on the one table (and the wallet key table, for the erase).

Items: `WALLET#{id}`/`DESTRUCTION` the progress record (reason, trigger, balance at the start, the
remainder's journal, burn and refund, finished_at, verification hash) and `WALLET#{id}`/`DESTRUCTIONLOG`
the destruction log (canonical JSON record + SHA-256). The wallet's META, the lease and its KEYS item in the
key table change in the same transactions as the progress they belong to (a transaction spans tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_claims import REMOVE_INDEX, due_attributes
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_payments import no_payment_in_flight
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    translated_errors,
    value,
)
from shared.adapters.dynamodb_wallet_refunds import no_refund_in_flight
from shared.adapters.dynamodb_wallets import (
    ACTIVE_SET_ATTRS,
    META,
    erase_keys_update,
    lease_key,
    stats_update,
    wallet_pk,
)
from shared.destruction.ports import (
    DestructionLog,
    DestructionProgress,
    PaymentInFlight,
)
from shared.destruction.triggers import DestructionReason, Trigger
from shared.errors import ConcurrentUpdate
from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record, iso
from shared.sweeper.ports import CLAIM_DEADLINE

PROGRESS_SK = "DESTRUCTION"
LOG_SK = "DESTRUCTIONLOG"
_UNDER_WAY = (WalletStatus.DESTROYING.value, WalletStatus.EXPIRED.value)


def progress_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": PROGRESS_SK}}


def log_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": LOG_SK}}


def _meta_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": META}}


def _progress_from(item: dict[str, Any]) -> DestructionProgress:
    values = from_item(item)

    def moment(name: str) -> datetime | None:
        raw = values.get(name)
        return datetime.fromisoformat(raw) if raw else None

    started = moment("started_at")
    assert started is not None
    return DestructionProgress(
        wallet_id=values["wallet_id"],
        tenant_id=values["tenant_id"],
        reason=DestructionReason(values["reason"]),
        trigger=Trigger(values["trigger"]),
        started_at=started,
        status_before=WalletStatus(values["status_before"]),
        balance_minor=int(values["balance_minor"]),
        forward_journal_id=values.get("forward_journal_id"),
        burn_tx=values.get("burn_tx"),
        refund_id=values.get("refund_id"),
        payment_intent_id=values.get("payment_intent_id"),
        finished_at=moment("finished_at"),
        verification_hash=values.get("verification_hash"),
    )


class DynamoDBDestructionStore:
    def __init__(
        self, client: Any, table_name: str, ledger: DynamoDBLedger | None = None, *, key_table_name: str
    ) -> None:
        self._client = client
        self._table = table_name
        self._key_table = key_table_name
        self._ledger = ledger or DynamoDBLedger(client, table_name)

    def progress_of(self, wallet_id: str) -> DestructionProgress | None:
        item = self._get(progress_key(wallet_id))
        return _progress_from(item) if item else None

    def destruction_log(self, wallet_id: str) -> DestructionLog | None:
        item = self._get(log_key(wallet_id))
        if item is None:
            return None
        values = from_item(item)
        return DestructionLog(wallet_id, values["record"], values["verification_hash"])

    def begin(
        self,
        before: Wallet,
        after: Wallet,
        progress: DestructionProgress,
        records: list[Record],
        stats: dict[str, int],
    ) -> None:
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": _meta_key(before.wallet_id),
                "UpdateExpression": "SET #status = :status, #version = :version, #updated = :updated "
                "REMOVE " + ", ".join(ACTIVE_SET_ATTRS),
                "ConditionExpression": "#version = :expected_version AND #status = :expected_status "
                "AND #type = :ephemeral",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#version": "version",
                    "#updated": "updated_at",
                    "#type": "wallet_type",
                },
                "ExpressionAttributeValues": {
                    ":status": value(after.status.value),
                    ":version": value(after.version),
                    ":updated": value(iso(after.updated_at)),
                    ":expected_version": value(before.version),
                    ":expected_status": value(before.status.value),
                    ":ephemeral": value("ephemeral"),
                },
            }
        }
        progress_item = {
            "pk": wallet_pk(progress.wallet_id),
            "sk": PROGRESS_SK,
            "entity": "wallet_destruction",
            "wallet_id": progress.wallet_id,
            "tenant_id": progress.tenant_id,
            "reason": progress.reason.value,
            "trigger": progress.trigger.value,
            "started_at": iso(progress.started_at),
            "status_before": progress.status_before.value,
            "balance_minor": progress.balance_minor,
            # Open until finish; past its deadline the sweeper resumes it.
            **due_attributes(
                wallet_pk(progress.wallet_id), PROGRESS_SK, progress.started_at + CLAIM_DEADLINE
            ),
        }
        operations: list[dict[str, Any]] = [
            wallet_update,
            no_payment_in_flight(self._table, before.wallet_id),
            self._put_new(progress_item),
            no_refund_in_flight(self._table, before.wallet_id),
            stats_update(self._table, before.tenant_id, stats),
            *(self._put_new(record) for record in records),
        ]
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            if failed_conditions(exc) & {1, 3}:
                raise PaymentInFlight("a payment or refund of this wallet is in flight") from None
            with translated_errors():
                raise

    def forward(
        self,
        wallet: Wallet,
        journal: Journal,
        progress: DestructionProgress,
        records: list[Record],
    ) -> PostOutcome:
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": _meta_key(wallet.wallet_id),
                "UpdateExpression": "SET #balance = :zero, #updated = :updated",
                "ConditionExpression": "#status IN (:destroying, :expired)",
                "ExpressionAttributeNames": {
                    "#balance": "balance",
                    "#updated": "updated_at",
                    "#status": "status",
                },
                "ExpressionAttributeValues": {
                    ":zero": value(0),
                    ":updated": value(iso(progress.started_at)),
                    ":destroying": value(_UNDER_WAY[0]),
                    ":expired": value(_UNDER_WAY[1]),
                },
            }
        }
        progress_update = {
            "Update": {
                "TableName": self._table,
                "Key": progress_key(wallet.wallet_id),
                "UpdateExpression": "SET #journal = :journal, #burn = :burn, #refund = :refund, "
                "#intent = :intent",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#journal)",
                "ExpressionAttributeNames": {
                    "#journal": "forward_journal_id",
                    "#burn": "burn_tx",
                    "#refund": "refund_id",
                    "#intent": "payment_intent_id",
                },
                "ExpressionAttributeValues": {
                    ":journal": value(progress.forward_journal_id),
                    ":burn": value(progress.burn_tx),
                    ":refund": value(progress.refund_id),
                    ":intent": value(progress.payment_intent_id),
                },
            }
        }
        operations = [wallet_update, progress_update, *(self._put_new(record) for record in records)]
        try:
            return self._ledger.post(journal, also=operations)
        except ConcurrentUpdate:
            # Another run of this destruction posted the same remainder first (same journal id): done.
            stored = self.progress_of(wallet.wallet_id)
            if stored is not None and stored.forward_journal_id == journal.id:
                return PostOutcome.ALREADY_POSTED
            raise

    def finish(
        self,
        wallet: Wallet,
        progress: DestructionProgress,
        log: DestructionLog,
        records: list[Record],
        stats: dict[str, int],
    ) -> bool:
        finished_at = progress.finished_at or progress.started_at
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": _meta_key(wallet.wallet_id),
                "UpdateExpression": "SET #status = :destroyed, #updated = :now, #destroyed_at = :now, "
                "#version = #version + :one",
                "ConditionExpression": "#status IN (:destroying, :expired)",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#updated": "updated_at",
                    "#destroyed_at": "destroyed_at",
                    "#version": "version",
                },
                "ExpressionAttributeValues": {
                    ":destroyed": value(WalletStatus.DESTROYED.value),
                    ":now": value(iso(finished_at)),
                    ":one": value(1),
                    ":destroying": value(_UNDER_WAY[0]),
                    ":expired": value(_UNDER_WAY[1]),
                },
            }
        }
        # The remainder must have been forwarded (its journal recorded) before the keys that move it go.
        condition = "attribute_exists(pk) AND attribute_not_exists(#finished)"
        if progress.balance_minor > 0:
            condition += " AND attribute_exists(#journal)"
        progress_update = {
            "Update": {
                "TableName": self._table,
                "Key": progress_key(wallet.wallet_id),
                "UpdateExpression": "SET #finished = :now, #hash = :hash " + REMOVE_INDEX,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {
                    "#finished": "finished_at",
                    "#hash": "verification_hash",
                    **({"#journal": "forward_journal_id"} if progress.balance_minor > 0 else {}),
                },
                "ExpressionAttributeValues": {
                    ":now": value(iso(finished_at)),
                    ":hash": value(log.verification_hash),
                },
            }
        }
        log_item = {
            "pk": wallet_pk(wallet.wallet_id),
            "sk": LOG_SK,
            # The tenant's destruction logs, newest first (GET /api/v2/destruction-logs).
            "gsi1pk": f"TENANT#{wallet.tenant_id}#DESTRUCTIONLOGS",
            "gsi1sk": f"{iso(finished_at)}#{wallet.wallet_id}",
            "entity": "wallet_destruction_log",
            "wallet_id": wallet.wallet_id,
            "tenant_id": wallet.tenant_id,
            "method": "crypto_erase",
            "record": log.record,
            "verification_hash": log.verification_hash,
            "created_at": iso(finished_at),
        }
        operations: list[dict[str, Any]] = [
            wallet_update,
            progress_update,
            erase_keys_update(self._key_table, wallet.wallet_id, finished_at),
            {"Delete": {"TableName": self._table, "Key": lease_key(wallet.wallet_id)}},
            self._put_new(log_item),
            stats_update(self._table, wallet.tenant_id, stats),
            *(self._put_new(record) for record in records),
        ]
        try:
            with translated_errors():
                transact_write(self._client, operations)
        except ConcurrentUpdate:
            stored = self.progress_of(wallet.wallet_id)
            if stored is not None and stored.finished_at is not None:
                return False
            raise
        return True

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return get_consistent(self._client, self._table, key)

    def _put_new(self, item: Record) -> dict[str, Any]:
        return put_new(self._table, item)
