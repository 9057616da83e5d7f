"""EndpointStore on the one table: `WHEP#<id>` items, listed per tenant on gsi1 (`WHEPS#<tenant>`), counted
against the tenant's cap on `TENANT#<tenant>`/`WEBHOOK_ENDPOINTS` in the same transaction."""

from __future__ import annotations

from datetime import datetime
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
from shared.errors import LimitExceeded
from shared.events.endpoints import EndpointPage, SigningSecret, WebhookEndpoint
from shared.outbox.records import Record, iso


def _key(endpoint_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"WHEP#{endpoint_id}"}, "sk": {"S": "ENDPOINT"}}


def _list_pk(tenant_id: str) -> str:
    return f"WHEPS#{tenant_id}"


def _counter_key(tenant_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "WEBHOOK_ENDPOINTS"}}


def endpoint_item(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "pk": f"WHEP#{endpoint.id}",
        "sk": "ENDPOINT",
        "gsi1pk": _list_pk(endpoint.tenant_id),
        "gsi1sk": f"{iso(endpoint.created_at)}#{endpoint.id}",
        "endpoint_id": endpoint.id,
        "tenant_id": endpoint.tenant_id,
        "url": endpoint.url,
        "enabled_events": list(endpoint.enabled_events),
        "resource_id": endpoint.resource_id,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        # Sealed (KMS ciphertext under the endpoint's id); a legacy text secret is kept as it was stored until
        # the endpoints function seals it.
        "secrets": [
            {
                "sealed": s.sealed if s.legacy_value is None else None,
                "value": s.legacy_value,
                "created_at": iso(s.created_at),
                "expires_at": iso(s.expires_at) if s.expires_at else None,
            }
            for s in endpoint.secrets
        ],
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
        "version": endpoint.version,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso(endpoint.failing_since) if endpoint.failing_since else None,
    }


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def endpoint_from_item(item: dict[str, Any]) -> WebhookEndpoint:
    plain = from_item(item)
    created = _time(plain["created_at"])
    updated = _time(plain["updated_at"])
    assert created is not None and updated is not None
    return WebhookEndpoint(
        id=plain["endpoint_id"],
        tenant_id=plain["tenant_id"],
        url=plain["url"],
        enabled_events=tuple(plain.get("enabled_events", ())),
        resource_id=plain.get("resource_id"),
        description=plain.get("description"),
        enabled=bool(plain.get("enabled", True)),
        secrets=tuple(_secret(s, created) for s in plain.get("secrets", [])),
        created_at=created,
        updated_at=updated,
        version=int(plain.get("version", 1)),
        disabled_reason=plain.get("disabled_reason"),
        failing_since=_time(plain.get("failing_since")),
    )


def _secret(stored: dict[str, Any], created: datetime) -> SigningSecret:
    sealed = stored.get("sealed")
    return SigningSecret(
        sealed=bytes(sealed.value) if sealed is not None else b"",
        created_at=_time(stored["created_at"]) or created,
        expires_at=_time(stored.get("expires_at")),
        legacy_value=stored.get("value") if sealed is None else None,
    )


class DynamoDBWebhookEndpoints:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, endpoint: WebhookEndpoint, cap: int, records: list[Record]) -> None:
        count = {
            "Update": {
                "TableName": self._table,
                "Key": _counter_key(endpoint.tenant_id),
                "UpdateExpression": "ADD #n :one",
                "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                "ExpressionAttributeNames": {"#n": "endpoints"},
                "ExpressionAttributeValues": {":one": value(1), ":cap": value(cap)},
            }
        }
        operations = [
            count,
            put_new(self._table, endpoint_item(endpoint)),
            *(put_new(self._table, r) for r in records),
        ]
        with translated_errors():
            try:
                transact_write(self._client, operations)
            except ClientError as exc:
                if 0 in failed_conditions(exc):
                    raise LimitExceeded(
                        f"a tenant may have at most {cap} webhook endpoints; delete one first",
                        [{"field": "url", "message": f"at most {cap} endpoints", "type": "limit_exceeded"}],
                    ) from exc
                raise

    def get(self, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        item = get_consistent(self._client, self._table, _key(endpoint_id))
        if item is None or item.get("tenant_id", {}).get("S") != tenant_id:
            return None
        return endpoint_from_item(item)

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> EndpointPage:
        partition = _list_pk(tenant_id)
        items, next_cursor = newest_first(self._client, self._table, "gsi1", partition, limit, cursor)
        return EndpointPage([endpoint_from_item(i) for i in items], next_cursor)

    def of_tenant(self, tenant_id: str) -> list[WebhookEndpoint]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": value(_list_pk(tenant_id))},
        }
        found: list[WebhookEndpoint] = []
        while True:
            with translated_errors():
                response = self._client.query(**kwargs)
            found += [endpoint_from_item(i) for i in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def update(self, endpoint: WebhookEndpoint, expected_version: int, records: list[Record]) -> None:
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

    def delete(self, endpoint: WebhookEndpoint, records: list[Record]) -> None:
        remove = {
            "Delete": {
                "TableName": self._table,
                "Key": _key(endpoint.id),
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": value(endpoint.version)},
            }
        }
        uncount = {
            "Update": {
                "TableName": self._table,
                "Key": _counter_key(endpoint.tenant_id),
                "UpdateExpression": "ADD #n :minus",
                "ExpressionAttributeNames": {"#n": "endpoints"},
                "ExpressionAttributeValues": {":minus": value(-1)},
            }
        }
        with translated_errors():
            transact_write(self._client, [remove, uncount, *(put_new(self._table, r) for r in records)])
