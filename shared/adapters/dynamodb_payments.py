"""PaymentStore on the one table, posting through DynamoDBLedger.

Item: `WALLET#{id}`/`PAYMENT`, the wallet's payment claim (operation id, amount, token amount, provider,
source and destination addresses, state, sequence, transaction hash). A payment commit is one
TransactWriteItems: wallet, invoice, claim, counters, audit, outbox and the ledger's own operations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_invoices import payment_update
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
from shared.adapters.dynamodb_wallet_refunds import no_refund_in_flight
from shared.adapters.dynamodb_wallets import META, stats_update, wallet_pk
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record, iso
from shared.payments.ports import PaymentClaim, PaymentClaimHeld, PaymentCommit, PaymentState

PAYMENT_SK = "PAYMENT"
RELEASED = "released"


def payment_claim_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": PAYMENT_SK}}


def no_payment_in_flight(table: str, wallet_id: str) -> dict[str, Any]:
    """A ConditionCheck for other flows (destruction) that must not start while a payment is in flight."""
    return not_in_state(table, payment_claim_key(wallet_id), PaymentState.IN_FLIGHT.value)


def _claim_item(claim: PaymentClaim) -> dict[str, Any]:
    return {
        "pk": wallet_pk(claim.wallet_id),
        "sk": PAYMENT_SK,
        "entity": "wallet_payment",
        "wallet_id": claim.wallet_id,
        "tenant_id": claim.tenant_id,
        "operation_id": claim.operation_id,
        "amount_minor": claim.amount_minor,
        "token_amount": claim.token_amount,
        "token": claim.token,
        "provider": claim.provider,
        "source": claim.source,
        "destination": claim.destination,
        "state": claim.state.value,
        "actor": claim.actor,
        "created_at": iso(claim.created_at),
        "transaction_hash": claim.transaction_hash,
        "sequence": claim.sequence,
    }


def _claim_from(item: dict[str, Any]) -> PaymentClaim:
    values = from_item(item)
    state = values["state"]
    return PaymentClaim(
        wallet_id=values["wallet_id"],
        tenant_id=values["tenant_id"],
        operation_id=values["operation_id"],
        amount_minor=int(values["amount_minor"]),
        token_amount=int(values["token_amount"]),
        token=values["token"],
        provider=values["provider"],
        source=values["source"],
        destination=values["destination"],
        # A released claim moved nothing; for everyone else it is as good as done.
        state=PaymentState.IN_FLIGHT if state == PaymentState.IN_FLIGHT.value else PaymentState.DONE,
        actor=values["actor"],
        created_at=datetime.fromisoformat(values["created_at"]),
        transaction_hash=values.get("transaction_hash"),
        sequence=int(values.get("sequence", 1)),
    )


class DynamoDBPaymentStore:
    def __init__(self, client: Any, table_name: str, ledger: DynamoDBLedger | None = None) -> None:
        self._client = client
        self._table = table_name
        self._ledger = ledger or DynamoDBLedger(client, table_name)

    def claim_of(self, wallet_id: str) -> PaymentClaim | None:
        item = get_consistent(self._client, self._table, payment_claim_key(wallet_id))
        return _claim_from(item) if item else None

    def claim(self, wallet: Wallet, claim: PaymentClaim) -> PaymentClaim:
        names = {"#version": "version", "#status": "status"}
        values = {":version": value(wallet.version), ":funded": value(WalletStatus.FUNDED.value)}
        condition = "#version = :version AND #status = :funded"
        if wallet.expires_at is not None:
            # ISO strings of one format compare as instants: a countdown that ran out refuses new payments.
            names["#expires"] = "expires_at"
            values[":now"] = value(iso(claim.created_at))
            condition += " AND #expires > :now"
        wallet_check = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(wallet.wallet_id)}, "sk": {"S": META}},
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(_claim_item(claim)),
                "ConditionExpression": "attribute_not_exists(pk) OR (#state <> :in_flight AND #seq < :seq)",
                "ExpressionAttributeNames": {"#state": "state", "#seq": "sequence"},
                "ExpressionAttributeValues": {
                    ":in_flight": value(PaymentState.IN_FLIGHT.value),
                    ":seq": value(claim.sequence),
                },
            }
        }
        try:
            # A refund in flight holds the wallet's money until it commits (shared/funding/wallet_refund.py).
            refund_check = no_refund_in_flight(self._table, wallet.wallet_id)
            transact_write(self._client, [wallet_check, put, refund_check])
        except ClientError as exc:
            if 1 in failed_conditions(exc):
                stored = self.claim_of(wallet.wallet_id)
                if stored is not None and stored.state is PaymentState.IN_FLIGHT:
                    raise PaymentClaimHeld(stored) from None
            with translated_errors():
                raise
        return claim

    def release(self, claim: PaymentClaim, records: list[Record]) -> None:
        update = {
            "Update": {
                "TableName": self._table,
                "Key": payment_claim_key(claim.wallet_id),
                "UpdateExpression": "SET #state = :released",
                "ConditionExpression": "#op = :op AND #state = :in_flight",
                "ExpressionAttributeNames": {"#state": "state", "#op": "operation_id"},
                "ExpressionAttributeValues": {
                    ":released": value(RELEASED),
                    ":op": value(claim.operation_id),
                    ":in_flight": value(PaymentState.IN_FLIGHT.value),
                },
            }
        }
        with translated_errors():
            transact_write(self._client, [update, *(self._put_new(r) for r in records)])

    def commit(self, payment: PaymentCommit) -> PostOutcome:
        before, after, claim = payment.wallet_before, payment.wallet_after, payment.claim
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(before.wallet_id)}, "sk": {"S": META}},
                "UpdateExpression": "SET #balance = :balance, #status = :status, #version = :version, "
                "#updated = :updated, #journals = list_append(if_not_exists(#journals, :none), :journal)",
                # No expiry condition: the claim was taken before the countdown ran out, and destruction
                # waits for an in-flight payment, so a payment made in time always lands.
                "ConditionExpression": "#version = :expected_version AND #status = :funded",
                "ExpressionAttributeNames": {
                    "#balance": "balance",
                    "#status": "status",
                    "#version": "version",
                    "#updated": "updated_at",
                    "#journals": "journal_ids",
                },
                "ExpressionAttributeValues": {
                    ":balance": value(after.balance),
                    ":status": value(after.status.value),
                    ":version": value(after.version),
                    ":updated": value(iso(after.updated_at)),
                    ":none": {"L": []},
                    ":journal": {"L": [value(payment.journal.id)]},
                    ":expected_version": value(before.version),
                    ":funded": value(WalletStatus.FUNDED.value),
                },
            }
        }
        claim_update = {
            "Update": {
                "TableName": self._table,
                "Key": payment_claim_key(before.wallet_id),
                "UpdateExpression": "SET #state = :done, #hash = :hash",
                "ConditionExpression": "#op = :op AND #state = :in_flight",
                "ExpressionAttributeNames": {
                    "#state": "state",
                    "#hash": "transaction_hash",
                    "#op": "operation_id",
                },
                "ExpressionAttributeValues": {
                    ":done": value(PaymentState.DONE.value),
                    ":hash": value(claim.transaction_hash or ""),
                    ":op": value(claim.operation_id),
                    ":in_flight": value(PaymentState.IN_FLIGHT.value),
                },
            }
        }
        operations: list[dict[str, Any]] = [
            wallet_update,
            payment_update(self._table, payment.invoice_before, payment.invoice_after),
            claim_update,
        ]
        if payment.stats:
            operations.append(stats_update(self._table, before.tenant_id, payment.stats))
        operations.extend(self._put_new(record) for record in payment.records)
        return self._ledger.post(payment.journal, also=operations)

    def _put_new(self, item: Record) -> dict[str, Any]:
        return put_new(self._table, item)
