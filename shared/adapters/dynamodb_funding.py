"""FundingStore on the one table, posting through DynamoDBLedger.

Items (beside the wallet's META/KEYS/CARD): `WALLET#{id}`/`FUNDING` the funding claim (intent, provider,
state, charge key, transaction hash, refund count) and `WALLET#{id}`/`FUNDREFUND#{intent}` one record per
refunded charge (with the reversal of the mint it may have caused). The funding commit is one
TransactWriteItems: wallet, claim, counters, audit, outbox and the ledger's own operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_claims import REMOVE_INDEX, SET_DUE, due_attributes, due_values
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_invoices import invoice_fundable
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_table import (
    failed_conditions,
    from_item,
    get_consistent,
    put_new,
    translated_errors,
    value,
)
from shared.adapters.dynamodb_wallets import META, stats_update, wallet_pk
from shared.errors import ConcurrentUpdate
from shared.funding.ports import (
    ChargeRefunded,
    ClaimHeld,
    ClaimState,
    FundingClaim,
    FundingCommit,
    InvoiceUnpayable,
    RefundRecord,
    Reversal,
)
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletStatus
from shared.outbox.records import Record, iso
from shared.sweeper.ports import CLAIM_DEADLINE

CLAIM_SK = "FUNDING"


def claim_key(wallet_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": CLAIM_SK}}


def refund_key(wallet_id: str, intent_id: str) -> dict[str, Any]:
    return {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": f"FUNDREFUND#{intent_id}"}}


def no_refund_record(table: str, wallet_id: str, intent_id: str) -> dict[str, Any]:
    """A ConditionCheck that the charge `intent_id` was never refunded (its refund record is absent)."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": refund_key(wallet_id, intent_id),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class DynamoDBFundingStore:
    def __init__(self, client: Any, table_name: str, ledger: DynamoDBLedger | None = None) -> None:
        self._client = client
        self._table = table_name
        self._ledger = ledger or DynamoDBLedger(client, table_name)

    def claim_of(self, wallet_id: str) -> FundingClaim:
        item = self._get(claim_key(wallet_id))
        if item is None:
            return FundingClaim(wallet_id, None, None, None)
        values = from_item(item)
        return FundingClaim(
            wallet_id=wallet_id,
            intent_id=values.get("intent_id"),
            provider=values.get("provider"),
            state=ClaimState(values["state"]) if values.get("state") else None,
            charge_key=values.get("charge_key"),
            transaction_hash=values.get("transaction_hash"),
            refunds=int(values.get("refunds", 0)),
        )

    def claim(
        self, wallet: Wallet, intent_id: str, provider: str, charge_key: str, now: datetime
    ) -> FundingClaim:
        update = {
            "TableName": self._table,
            "Key": claim_key(wallet.wallet_id),
            "UpdateExpression": "SET #entity = :entity, #wallet = :wallet, #tenant = :tenant, "
            "#intent = :intent, #provider = :provider, #state = :minting, #key = :key, "
            "#updated = :now, " + SET_DUE,
            "ConditionExpression": "attribute_not_exists(pk) OR #state = :refunded",
            "ExpressionAttributeNames": {
                "#entity": "entity",
                "#wallet": "wallet_id",
                "#tenant": "tenant_id",
                "#intent": "intent_id",
                "#provider": "provider",
                "#state": "state",
                "#key": "charge_key",
                "#updated": "updated_at",
            },
            "ExpressionAttributeValues": {
                ":entity": value("wallet_funding"),
                ":wallet": value(wallet.wallet_id),
                ":tenant": value(wallet.tenant_id),
                ":intent": value(intent_id),
                ":provider": value(provider),
                ":minting": value(ClaimState.MINTING.value),
                ":refunded": value(ClaimState.REFUNDED.value),
                ":key": value(charge_key),
                ":now": value(iso(now)),
                # Open until the commit or the refund record settles it; the sweeper's past then.
                **due_values(wallet_pk(wallet.wallet_id), CLAIM_SK, now + CLAIM_DEADLINE),
            },
        }
        # A refunded claim may be taken again, but never by the refunded charge itself: the webhook and
        # the request race on one intent, and the one that refunded it must win for good.
        operations = [no_refund_record(self._table, wallet.wallet_id, intent_id), {"Update": update}]
        if wallet.invoice_id:
            operations.append(invoice_fundable(self._table, wallet.tenant_id, wallet.invoice_id))
        try:
            transact_write(self._client, operations)
        except ClientError as exc:
            failed = failed_conditions(exc)
            if 0 in failed:
                raise ChargeRefunded(self._refund_record(wallet.wallet_id, intent_id)) from None
            if 2 in failed:
                raise InvoiceUnpayable("the wallet's invoice is not payable") from None
            if 1 in failed:
                stored = self.claim_of(wallet.wallet_id)
                if stored.intent_id == intent_id:
                    return stored
                raise ClaimHeld(stored) from None
            with translated_errors():
                raise
        return self.claim_of(wallet.wallet_id)

    def refund_of(self, wallet_id: str, intent_id: str) -> RefundRecord | None:
        item = self._get(refund_key(wallet_id, intent_id))
        if item is None:
            return None
        values = from_item(item)
        return RefundRecord(
            wallet_id,
            intent_id,
            int(values["amount_minor"]),
            values["currency"],
            values["reason"],
            values.get("refund_id"),
            Reversal(values.get("reversal", Reversal.NONE.value)),
            values.get("provider"),
            values.get("asset"),
            int(values.get("token_amount", 0)),
            values.get("address"),
        )

    def _refund_record(self, wallet_id: str, intent_id: str) -> RefundRecord:
        record = self.refund_of(wallet_id, intent_id)
        if record is None:
            raise ConcurrentUpdate("the refund record moved while it was read; retry")
        return record

    def record_refund(
        self, wallet: Wallet, record: RefundRecord, now: datetime, records: Sequence[Record]
    ) -> None:
        refund_item: dict[str, Any] = {
            "pk": wallet_pk(wallet.wallet_id),
            "sk": f"FUNDREFUND#{record.intent_id}",
            "entity": "funding_refund",
            "wallet_id": wallet.wallet_id,
            "tenant_id": wallet.tenant_id,
            "intent_id": record.intent_id,
            "amount_minor": record.amount_minor,
            "currency": record.currency,
            "reason": record.reason,
            "reversal": record.reversal.value,
            "created_at": iso(now),
            # Open until its reversal and refund are done (refund_issued/reversal_settled settle it).
            **due_attributes(
                wallet_pk(wallet.wallet_id), f"FUNDREFUND#{record.intent_id}", now + CLAIM_DEADLINE
            ),
        }
        if record.reversal is not Reversal.NONE:
            refund_item |= {
                "provider": record.provider,
                "asset": record.asset,
                "token_amount": record.token_amount,
                "address": record.address,
            }
        holder = self.claim_of(wallet.wallet_id)
        names = {"#refunds": "refunds", "#entity": "entity", "#wallet": "wallet_id"}
        values: dict[str, Any] = {
            ":one": value(1),
            ":entity": value("wallet_funding"),
            ":wallet": value(wallet.wallet_id),
        }
        # Never refund a charge that funded the wallet meanwhile (the webhook and the request race).
        names |= {"#state": "state", "#intent": "intent_id"}
        values |= {":funded": value(ClaimState.FUNDED.value), ":intent": value(record.intent_id)}
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": claim_key(wallet.wallet_id),
            "UpdateExpression": "SET #entity = :entity, #wallet = :wallet ADD #refunds :one",
            "ConditionExpression": "attribute_not_exists(pk) OR attribute_not_exists(#intent) "
            "OR #intent <> :intent OR #state <> :funded",
        }
        if holder.intent_id == record.intent_id and holder.state is ClaimState.MINTING:
            # The refunded charge held the claim: release it so the next attempt may claim.
            update["UpdateExpression"] = (
                "SET #entity = :entity, #wallet = :wallet, #state = :refunded ADD #refunds :one "
                + REMOVE_INDEX
            )
            update["ConditionExpression"] = "#intent = :intent AND #state = :minting"
            del values[":funded"]
            values |= {
                ":refunded": value(ClaimState.REFUNDED.value),
                ":minting": value(ClaimState.MINTING.value),
            }
        update["ExpressionAttributeNames"] = names
        update["ExpressionAttributeValues"] = values
        operations = [self._put_new(refund_item), {"Update": update}, *(self._put_new(r) for r in records)]
        try:
            with translated_errors():
                transact_write(self._client, operations)
        except ConcurrentUpdate:
            if self.refund_of(wallet.wallet_id, record.intent_id) is None:
                raise

    def refund_issued(self, wallet_id: str, intent_id: str, refund_id: str) -> None:
        with translated_errors():
            updated = self._client.update_item(
                TableName=self._table,
                Key=refund_key(wallet_id, intent_id),
                UpdateExpression="SET refund_id = :refund",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":refund": value(refund_id)},
                ReturnValues="ALL_NEW",
            )
        self._close_refund(wallet_id, intent_id, updated.get("Attributes", {}))

    def reversal_settled(self, wallet_id: str, intent_id: str, reversal: Reversal) -> None:
        with translated_errors():
            updated = self._client.update_item(
                TableName=self._table,
                Key=refund_key(wallet_id, intent_id),
                UpdateExpression="SET reversal = :reversal",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":reversal": value(reversal.value)},
                ReturnValues="ALL_NEW",
            )
        self._close_refund(wallet_id, intent_id, updated.get("Attributes", {}))

    def _close_refund(self, wallet_id: str, intent_id: str, item: dict[str, Any]) -> None:
        """Out of the claim index once both the refund and the reversal are done."""
        values = from_item(item)
        if "gsi3pk" not in values or not values.get("refund_id"):
            return
        if values.get("reversal") == Reversal.PENDING.value:
            return
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=refund_key(wallet_id, intent_id),
                    UpdateExpression=REMOVE_INDEX,
                    ConditionExpression="attribute_exists(refund_id) AND reversal <> :pending",
                    ExpressionAttributeValues={":pending": value(Reversal.PENDING.value)},
                )
        except ConcurrentUpdate:
            return

    def payment_processing(self, wallet: Wallet, intent_id: str, now: datetime) -> None:
        pk, sk = wallet_pk(wallet.wallet_id), f"FUNDPROCESSING#{intent_id}"
        item = {
            "pk": pk,
            "sk": sk,
            "entity": "funding_processing",
            "wallet_id": wallet.wallet_id,
            "tenant_id": wallet.tenant_id,
            "intent_id": intent_id,
            "created_at": iso(now),
            **due_attributes(pk, sk, now + CLAIM_DEADLINE),
        }
        try:
            with translated_errors():
                transact_write(self._client, [self._put_new(item)])
        except ConcurrentUpdate:
            # A retry of the same attempt: the payment is watched already.
            return

    def release(self, wallet_id: str, intent_id: str, records: Sequence[Record]) -> bool:
        """Free the claim after `intent_id` failed (see stripe_events_ports.FundingRelease): one transaction
        of the wallet's existence, a `FUNDFAILED#{intent}` marker, the claim's attempt count and `records`."""
        marker = {
            "pk": wallet_pk(wallet_id),
            "sk": f"FUNDFAILED#{intent_id}",
            "entity": "funding_failure",
            "wallet_id": wallet_id,
            "intent_id": intent_id,
        }
        claim_update = {
            "Update": {
                "TableName": self._table,
                "Key": claim_key(wallet_id),
                "UpdateExpression": "SET #entity = :entity, #wallet = :wallet, #state = :refunded "
                "ADD #refunds :one",
                "ConditionExpression": "attribute_not_exists(pk) OR attribute_not_exists(#state) "
                "OR #state = :refunded",
                "ExpressionAttributeNames": {
                    "#entity": "entity",
                    "#wallet": "wallet_id",
                    "#state": "state",
                    "#refunds": "refunds",
                },
                "ExpressionAttributeValues": {
                    ":entity": value("wallet_funding"),
                    ":wallet": value(wallet_id),
                    ":refunded": value(ClaimState.REFUNDED.value),
                    ":one": value(1),
                },
            }
        }
        wallet_exists = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(wallet_id)}, "sk": {"S": META}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        operations = [wallet_exists, self._put_new(marker), claim_update]
        operations.extend(self._put_new(record) for record in records)
        try:
            with translated_errors():
                transact_write(self._client, operations)
        except ConcurrentUpdate:
            return False
        return True

    def commit(self, funding: FundingCommit) -> PostOutcome:
        before, after, claim = funding.before, funding.after, funding.claim
        names = {
            "#balance": "balance",
            "#status": "status",
            "#provider": "provider",
            "#version": "version",
            "#updated": "updated_at",
        }
        values = {
            ":balance": value(after.balance),
            ":status": value(after.status.value),
            ":provider": value(after.provider),
            ":version": value(after.version),
            ":updated": value(iso(after.updated_at)),
            ":expected_version": value(before.version),
            ":active": value(WalletStatus.ACTIVE.value),
        }
        condition = "#version = :expected_version AND #status = :active"
        if before.expires_at is not None:
            names["#expires"] = "expires_at"
            values[":now"] = value(iso(after.updated_at))
            condition += " AND #expires > :now"
        wallet_update = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": wallet_pk(before.wallet_id)}, "sk": {"S": META}},
                "UpdateExpression": "SET #balance = :balance, #status = :status, #provider = :provider, "
                "#version = :version, #updated = :updated",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        claim_update = {
            "Update": {
                "TableName": self._table,
                "Key": claim_key(before.wallet_id),
                "UpdateExpression": "SET #state = :funded, #hash = :hash, #provider = :provider, #key = :key "
                + REMOVE_INDEX,
                "ConditionExpression": "#intent = :intent AND #state = :minting",
                "ExpressionAttributeNames": {
                    "#state": "state",
                    "#hash": "transaction_hash",
                    "#provider": "provider",
                    "#key": "charge_key",
                    "#intent": "intent_id",
                },
                "ExpressionAttributeValues": {
                    ":funded": value(ClaimState.FUNDED.value),
                    ":minting": value(ClaimState.MINTING.value),
                    ":hash": value(claim.transaction_hash or ""),
                    ":provider": value(claim.provider or ""),
                    ":key": value(claim.charge_key or ""),
                    ":intent": value(claim.intent_id or ""),
                },
            }
        }
        operations: list[dict[str, Any]] = [
            wallet_update,
            claim_update,
            no_refund_record(self._table, before.wallet_id, claim.intent_id or ""),
        ]
        if before.invoice_id:
            operations.append(invoice_fundable(self._table, before.tenant_id, before.invoice_id))
        if funding.stats:
            operations.append(stats_update(self._table, before.tenant_id, funding.stats))
        operations.extend(self._put_new(record) for record in funding.records)
        return self._ledger.post(funding.journal, also=operations)

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return get_consistent(self._client, self._table, key)

    def _put_new(self, item: Record) -> dict[str, Any]:
        return put_new(self._table, item)
