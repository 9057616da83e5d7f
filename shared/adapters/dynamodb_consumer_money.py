"""MoneyOpStore on the one table: `CONSUMER#{tenant}#{user}` / `OP#{id}` holds one deposit, withdrawal or
transfer out; its history line and usage counters are the consumer store's items (dynamodb_consumer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_claims import due_attributes
from shared.adapters.dynamodb_consumer import DynamoDBConsumerStore, consumer_pk
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import (
    from_item,
    get_consistent,
    put_new,
    to_item,
    translated_errors,
    value,
)
from shared.consumer.money import OPEN, MoneyOp, OpKind, OpState
from shared.consumer.ports import CounterCharge
from shared.consumer.records import ConsumerTransaction
from shared.errors import ConcurrentUpdate
from shared.outbox.records import Record, iso
from shared.sweeper.ports import CLAIM_DEADLINE

_OP = "OP#"


def _op_key(tenant_id: str, user_id: str, op_id: str) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": f"{_OP}{op_id}"}}


def _connect_key(tenant_id: str, user_id: str, bank_key: str) -> dict[str, Any]:
    return {"pk": {"S": consumer_pk(tenant_id, user_id)}, "sk": {"S": f"CONNECT#{bank_key}"}}


def _line_key(tenant_id: str, user_id: str, line: ConsumerTransaction) -> dict[str, Any]:
    return {
        "pk": {"S": consumer_pk(tenant_id, user_id)},
        "sk": {"S": f"TXN#{iso(line.created_at)}#{line.id}"},
    }


class DynamoDBMoneyOpStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._consumers = DynamoDBConsumerStore(client, table_name)

    def op(self, tenant_id: str, user_id: str, op_id: str) -> MoneyOp | None:
        item = get_consistent(self._client, self._table, _op_key(tenant_id, user_id, op_id))
        if item is None:
            return None
        v = from_item(item)
        return MoneyOp(
            op_id=v["op_id"],
            tenant_id=v["tenant_id"],
            user_id=v["user_id"],
            kind=OpKind(v["kind"]),
            state=OpState(v["state"]),
            coin=v["coin"],
            token_amount=int(v["token_amount"]),
            fiat_amount=int(v["fiat_amount"]),
            usd=int(v["usd"]),
            provider=v["provider"],
            created_at=datetime.fromisoformat(v["created_at"]),
            updated_at=datetime.fromisoformat(v["updated_at"]),
            fee=int(v.get("fee", 0)),
            facts={str(k): str(x) for k, x in (v.get("facts") or {}).items()},
        )

    def _item(self, op: MoneyOp) -> dict[str, Any]:
        pk, sk = consumer_pk(op.tenant_id, op.user_id), f"{_OP}{op.op_id}"
        # While open, the claim index (gsi3) holds it: the sweeper finishes it if nobody else does.
        due = due_attributes(pk, sk, op.updated_at + CLAIM_DEADLINE) if op.state in OPEN else {}
        return {
            **due,
            "pk": pk,
            "sk": sk,
            "wallet_id": op.facts.get("wallet_id"),
            "entity": "consumer_money_op",
            "op_id": op.op_id,
            "tenant_id": op.tenant_id,
            "user_id": op.user_id,
            "kind": op.kind.value,
            "state": op.state.value,
            "coin": op.coin,
            "token_amount": op.token_amount,
            "fiat_amount": op.fiat_amount,
            "usd": op.usd,
            "provider": op.provider,
            "fee": op.fee,
            "facts": dict(op.facts),
            "created_at": iso(op.created_at),
            "updated_at": iso(op.updated_at),
        }

    def begin(self, op: MoneyOp, charges: Sequence[CounterCharge], line: ConsumerTransaction) -> list[Any]:
        history = [(op.user_id, line)]
        return [
            put_new(self._table, self._item(op)),
            *self._consumers.movement_operations(op.tenant_id, op.user_id, list(charges), history, []),
        ]

    def advance(
        self,
        op: MoneyOp,
        expected: Sequence[OpState],
        line: ConsumerTransaction | None = None,
        release: Sequence[CounterCharge] = (),
    ) -> list[Any]:
        states = {f":s{i}": value(state.value) for i, state in enumerate(expected)}
        operations: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(self._item(op)),
                    "ConditionExpression": f"#state IN ({', '.join(states)})",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": states,
                }
            }
        ]
        if line is not None:
            operations.append(self._line_update(op, line))
        operations += [self._release(op, charge) for charge in release]
        return operations

    def _line_update(self, op: MoneyOp, line: ConsumerTransaction) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _line_key(op.tenant_id, op.user_id, line),
                "UpdateExpression": "SET #status = :status, #settled = :settled, #journal = :journal, "
                "#provider = :provider",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {
                    "#status": "status",
                    "#settled": "settled_at",
                    "#journal": "journal_id",
                    "#provider": "provider",
                },
                "ExpressionAttributeValues": {
                    ":status": value(line.status.value),
                    ":settled": value(iso(line.settled_at) if line.settled_at else None),
                    ":journal": value(line.journal_id),
                    ":provider": value(line.provider),
                },
            }
        }

    def _release(self, op: MoneyOp, charge: CounterCharge) -> dict[str, Any]:
        key = {
            "pk": {"S": consumer_pk(op.tenant_id, op.user_id)},
            "sk": {"S": f"USAGE#{charge.window.counter_id}"},
        }
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": "ADD #used :amount",
                "ConditionExpression": "attribute_exists(#used)",
                "ExpressionAttributeNames": {"#used": "used"},
                "ExpressionAttributeValues": {":amount": value(-abs(charge.amount))},
            }
        }

    def records(self, records: Sequence[Record]) -> list[Any]:
        return [put_new(self._table, record) for record in records]

    def connected_account(self, tenant_id: str, user_id: str, bank_key: str) -> str | None:
        item = get_consistent(self._client, self._table, _connect_key(tenant_id, user_id, bank_key))
        return item["account_id"]["S"] if item else None

    def remember_account(self, tenant_id: str, user_id: str, bank_key: str, account_id: str) -> str:
        key = _connect_key(tenant_id, user_id, bank_key)
        item = {**from_item(key), "entity": "consumer_connect_account", "account_id": account_id}
        try:
            with translated_errors():
                self._client.put_item(
                    TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
                )
        except ConcurrentUpdate:
            kept = self.connected_account(tenant_id, user_id, bank_key)
            if kept is None:
                raise
            return kept
        return account_id

    def write(self, operations: Sequence[Any]) -> None:
        with translated_errors():
            transact_write(self._client, list(operations))
