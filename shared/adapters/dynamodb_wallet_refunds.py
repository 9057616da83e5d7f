"""WalletRefundStore on the one table: `WALLET#{id}`/`REFUND` is the wallet's refund claim (in flight or the
last done; in flight, it is in the sweeper's claim index). Begin is one TransactWriteItems with the wallet,
its funding claim and its payment claim as conditions; the commit posts the refund journal with the wallet,
both claims, the charge's refund record (`FUNDREFUND#{intent}`, so the refunded intent never funds the
wallet again), audit and outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_claims import REMOVE_INDEX, due_attributes
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_funding import claim_key
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    not_in_state,
    put_new,
    to_item,
    translated_errors,
    value,
)
from shared.adapters.dynamodb_wallets import META, stats_update, wallet_pk
from shared.funding.ports import ClaimState, RefundState, WalletRefund, WalletRefundHeld
from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record, iso
from shared.sweeper.ports import CLAIM_DEADLINE

REFUND_SK = "REFUND"


def refund_claim_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": REFUND_SK}}


def no_refund_in_flight(table: str, wallet_id: str) -> dict[str, Any]:
    """A ConditionCheck for flows that move a wallet's money (pay, destruction): no refund is in flight."""
    return not_in_state(table, refund_claim_key(wallet_id), RefundState.IN_FLIGHT.value)


def _refund_item(refund: WalletRefund) -> dict[str, Any]:
    # In flight, the claim is in the sweeper's index (due CLAIM_DEADLINE after it began); the commit that
    # marks it done takes it out in the same transaction.
    due = due_attributes(wallet_pk(refund.wallet_id), REFUND_SK, refund.created_at + CLAIM_DEADLINE)
    return {
        **(due if refund.state is RefundState.IN_FLIGHT else {}),
        "pk": wallet_pk(refund.wallet_id),
        "sk": REFUND_SK,
        "entity": "wallet_refund",
        "wallet_id": refund.wallet_id,
        "tenant_id": refund.tenant_id,
        "intent_id": refund.intent_id,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
        "state": refund.state.value,
        "actor": refund.actor,
        "created_at": iso(refund.created_at),
        "refund_id": refund.refund_id,
        "burn_tx": refund.burn_tx,
    }


class DynamoDBWalletRefundStore:
    def __init__(self, client: Any, table_name: str, ledger: DynamoDBLedger | None = None) -> None:
        self._client = client
        self._table = table_name
        self._ledger = ledger or DynamoDBLedger(client, table_name)

    def refund_claim_of(self, wallet_id: str) -> WalletRefund | None:
        item = get_consistent(self._client, self._table, refund_claim_key(wallet_id))
        if item is None:
            return None
        values = from_item(item)
        return WalletRefund(
            wallet_id=values["wallet_id"],
            tenant_id=values["tenant_id"],
            intent_id=values["intent_id"],
            amount_minor=int(values["amount_minor"]),
            currency=values["currency"],
            state=RefundState(values["state"]),
            actor=values["actor"],
            created_at=datetime.fromisoformat(values["created_at"]),
            refund_id=values.get("refund_id"),
            burn_tx=values.get("burn_tx"),
        )

    def begin(self, wallet: Wallet, refund: WalletRefund) -> None:
        from shared.adapters.dynamodb_payments import no_payment_in_flight  # it checks our claim in turn

        names = {"#version": "version", "#status": "status", "#balance": "balance"}
        values = {
            ":version": value(wallet.version),
            ":funded": value(WalletStatus.FUNDED.value),
            ":balance": value(wallet.balance),
        }
        condition = "#version = :version AND #status = :funded AND #balance = :balance"
        if wallet.expires_at is not None:
            names["#expires"] = "expires_at"
            values[":now"] = value(iso(refund.created_at))
            condition += " AND #expires > :now"
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(_refund_item(refund)),
                "ConditionExpression": "attribute_not_exists(pk) OR #state <> :in_flight",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {":in_flight": value(RefundState.IN_FLIGHT.value)},
            }
        }
        wallet_check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(wallet.wallet_id)}, "sk": {"S": META}},
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        funding_check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": claim_key(wallet.wallet_id),
                "ConditionExpression": "#intent = :intent AND #state = :funded",
                "ExpressionAttributeNames": {"#intent": "intent_id", "#state": "state"},
                "ExpressionAttributeValues": {
                    ":intent": value(refund.intent_id),
                    ":funded": value(ClaimState.FUNDED.value),
                },
            }
        }
        operations = [put, wallet_check, funding_check, no_payment_in_flight(self._table, wallet.wallet_id)]
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            if 0 in failed_conditions(exc):
                stored = self.refund_claim_of(wallet.wallet_id)
                if stored is not None and stored.state is RefundState.IN_FLIGHT:
                    raise WalletRefundHeld(stored) from None
            with translated_errors():
                raise

    def commit(
        self,
        wallet: Wallet,
        after: Wallet,
        refund: WalletRefund,
        journal: Journal,
        records: list[Record],
        stats: dict[str, int],
    ) -> PostOutcome:
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(wallet.wallet_id)}, "sk": {"S": META}},
                "UpdateExpression": "SET #balance = :zero, #status = :active, #version = :version, "
                "#updated = :updated",
                "ConditionExpression": "#status = :funded AND #balance = :balance",
                "ExpressionAttributeNames": {
                    "#balance": "balance",
                    "#status": "status",
                    "#version": "version",
                    "#updated": "updated_at",
                },
                "ExpressionAttributeValues": {
                    ":zero": value(after.balance),
                    ":active": value(after.status.value),
                    ":version": value(after.version),
                    ":updated": value(iso(after.updated_at)),
                    ":funded": value(WalletStatus.FUNDED.value),
                    ":balance": value(wallet.balance),
                },
            }
        }
        claim_done = {
            "Update": {
                "TableName": self._table,
                "Key": refund_claim_key(wallet.wallet_id),
                "UpdateExpression": "SET #state = :done, #refund = :refund, #burn = :burn " + REMOVE_INDEX,
                "ConditionExpression": "#intent = :intent AND #state = :in_flight",
                "ExpressionAttributeNames": {
                    "#state": "state",
                    "#refund": "refund_id",
                    "#burn": "burn_tx",
                    "#intent": "intent_id",
                },
                "ExpressionAttributeValues": {
                    ":done": value(RefundState.DONE.value),
                    ":in_flight": value(RefundState.IN_FLIGHT.value),
                    ":refund": value(refund.refund_id or ""),
                    ":burn": value(refund.burn_tx or ""),
                    ":intent": value(refund.intent_id),
                },
            }
        }
        funding_released = {
            "Update": {
                "TableName": self._table,
                "Key": claim_key(wallet.wallet_id),
                "UpdateExpression": "SET #state = :refunded ADD #refunds :one",
                "ConditionExpression": "#intent = :intent AND #state = :funded",
                "ExpressionAttributeNames": {
                    "#state": "state",
                    "#refunds": "refunds",
                    "#intent": "intent_id",
                },
                "ExpressionAttributeValues": {
                    ":refunded": value(ClaimState.REFUNDED.value),
                    ":funded": value(ClaimState.FUNDED.value),
                    ":one": value(1),
                    ":intent": value(refund.intent_id),
                },
            }
        }
        # The charge's refund record: a fund retried with the first request's key finds it and never
        # claims (or mints for) the refunded intent again.
        charge_refunded = {
            "pk": wallet_pk(wallet.wallet_id),
            "sk": f"FUNDREFUND#{refund.intent_id}",
            "entity": "funding_refund",
            "wallet_id": wallet.wallet_id,
            "tenant_id": wallet.tenant_id,
            "intent_id": refund.intent_id,
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
            "reason": "merchant_refund",
            "reversal": "none",
            "refund_id": refund.refund_id,
            "created_at": iso(after.updated_at),
        }
        operations: list[dict[str, Any]] = [
            wallet_update,
            claim_done,
            funding_released,
            put_new(self._table, charge_refunded),
        ]
        if stats:
            operations.append(stats_update(self._table, wallet.tenant_id, stats))
        operations.extend(put_new(self._table, record) for record in records)
        return self._ledger.post(journal, also=operations)
