"""DeliveryStore on the one table: `WHDLV#<id>` items (90-day TTL, as their events), an endpoint's log on
gsi1 (`WHDLVS#<endpoint>`, newest first), and the endpoint's health written with its event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.dynamodb_cursor import newest_first
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
from shared.adapters.dynamodb_webhook_endpoints import endpoint_item
from shared.events.deliveries import Delivery, DeliveryPage, DeliveryState
from shared.events.endpoints import WebhookEndpoint
from shared.outbox.records import Record, iso

RETENTION = timedelta(days=90)


def _key(delivery_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"WHDLV#{delivery_id}"}, "sk": {"S": "DELIVERY"}}


def _log_pk(endpoint_id: str) -> str:
    return f"WHDLVS#{endpoint_id}"


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def delivery_item(delivery: Delivery) -> dict[str, Any]:
    return {
        "pk": f"WHDLV#{delivery.id}",
        "sk": "DELIVERY",
        "gsi1pk": _log_pk(delivery.endpoint_id),
        "gsi1sk": f"{iso(delivery.created_at)}#{delivery.id}",
        "delivery_id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "tenant_id": delivery.tenant_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "state": delivery.state.value,
        "attempt": delivery.attempt,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
        "next_attempt_at": iso(delivery.next_attempt_at) if delivery.next_attempt_at else None,
        "status_code": delivery.status_code,
        "duration_ms": delivery.duration_ms,
        "error": delivery.error,
        "original_delivery_id": delivery.original_delivery_id,
        "version": delivery.version,
        "ttl": int((delivery.created_at + RETENTION).timestamp()),
    }


def delivery_from_item(item: dict[str, Any]) -> Delivery:
    plain = from_item(item)
    created, updated = _time(plain["created_at"]), _time(plain["updated_at"])
    assert created is not None and updated is not None
    return Delivery(
        id=plain["delivery_id"],
        endpoint_id=plain["endpoint_id"],
        tenant_id=plain["tenant_id"],
        event_id=plain["event_id"],
        event_type=plain["event_type"],
        state=DeliveryState(plain["state"]),
        attempt=int(plain["attempt"]),
        created_at=created,
        updated_at=updated,
        next_attempt_at=_time(plain.get("next_attempt_at")),
        status_code=int(plain["status_code"]) if plain.get("status_code") is not None else None,
        duration_ms=int(plain["duration_ms"]) if plain.get("duration_ms") is not None else None,
        error=plain.get("error"),
        original_delivery_id=plain.get("original_delivery_id"),
        version=int(plain["version"]),
    )


class DynamoDBDeliveries:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, delivery: Delivery) -> bool:
        with translated_errors():
            try:
                transact_write(self._client, [put_new(self._table, delivery_item(delivery))])
            except ClientError as exc:
                if 0 in failed_conditions(exc):
                    return False
                raise
        return True

    def get(self, delivery_id: str) -> Delivery | None:
        item = get_consistent(self._client, self._table, _key(delivery_id))
        return delivery_from_item(item) if item else None

    def save(self, delivery: Delivery, expected_version: int) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(delivery_item(delivery)),
                ConditionExpression="#v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": value(expected_version)},
            )

    def page(self, endpoint_id: str, limit: int, cursor: str | None) -> DeliveryPage:
        partition = _log_pk(endpoint_id)
        items, next_cursor = newest_first(self._client, self._table, "gsi1", partition, limit, cursor)
        return DeliveryPage([delivery_from_item(i) for i in items], next_cursor)

    def endpoint_health(
        self, endpoint: WebhookEndpoint, expected_version: int, records: list[Record]
    ) -> None:
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(endpoint_item(endpoint)),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": value(expected_version)},
            }
        }
        with translated_errors():
            transact_write(self._client, [put, *(put_new(self._table, r) for r in records)])
