"""RequestStore on the one table: a request to pay `CONSUMERREQUEST#{tenant}#{invoice_id}` / `REQUEST`
(pending, then accepted or declined once, each change guarded by the state it leaves)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import from_item, get_consistent, put_new, translated_errors, value
from shared.consumer.requests import PayRequest, RequestState
from shared.outbox.records import Record, iso


def _key(tenant_id: str, request_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"CONSUMERREQUEST#{tenant_id}#{request_id}"}, "sk": {"S": "REQUEST"}}


class DynamoDBRequestStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def request(self, tenant_id: str, request_id: str) -> PayRequest | None:
        item = get_consistent(self._client, self._table, _key(tenant_id, request_id))
        if item is None:
            return None
        values = from_item(item)
        return PayRequest(
            id=values["request_id"],
            tenant_id=values["tenant_id"],
            requester=values["requester"],
            payer=values["payer"],
            amount=int(values["amount"]),
            currency=values["currency"],
            memo=values.get("memo"),
            state=RequestState(values["state"]),
            number=values["number"],
            created_at=datetime.fromisoformat(values["created_at"].replace("Z", "+00:00")),
        )

    def new_request(self, request: PayRequest) -> dict[str, Any]:
        return {
            "pk": f"CONSUMERREQUEST#{request.tenant_id}#{request.id}",
            "sk": "REQUEST",
            "entity": "consumer_pay_request",
            "request_id": request.id,
            "tenant_id": request.tenant_id,
            "requester": request.requester,
            "payer": request.payer,
            "amount": request.amount,
            "currency": request.currency,
            "memo": request.memo,
            "state": request.state.value,
            "number": request.number,
            "created_at": iso(request.created_at),
        }

    def settle(self, request: PayRequest, records: list[Record]) -> list[Any]:
        return [self._settle(request), *(put_new(self._table, record) for record in records)]

    def _settle(self, request: PayRequest) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _key(request.tenant_id, request.id),
                "UpdateExpression": "SET #state = :state",
                "ConditionExpression": "#state = :pending",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":state": value(request.state.value),
                    ":pending": value(RequestState.PENDING.value),
                },
            }
        }

    def settle_now(self, request: PayRequest, records: list[Record]) -> None:
        with translated_errors():
            transact_write(self._client, self.settle(request, records))
