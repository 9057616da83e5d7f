"""DynamoDB adapter of the realtime ConnectionStore: connection, subscription and fan-out claim items."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import Settings
from shared.errors import DependencyUnavailable
from shared.outbox.records import iso
from shared.realtime.ports import Connection, SubscribeOutcome, Subscriber, Viewer, heartbeat_bucket


def connections_table(settings: Settings) -> Any:
    """The table as a boto3 resource, which the connection and snapshot stores speak."""
    import boto3

    return boto3.resource("dynamodb", region_name=settings.aws_region).Table(settings.table_name)


COUNTDOWNS_KEY = "COUNTDOWNS"
HEARTBEAT_PREFIX = "HEARTBEAT#"


def connection_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def channel_key(channel: str) -> str:
    return f"CHANNEL#{channel}"


@contextmanager
def _dynamodb_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailable(f"DynamoDB {operation} failed") from exc


def _viewer_attributes(viewer: Viewer) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "sub": viewer.sub,
        "tenant_id": viewer.tenant_id,
        "roles": ",".join(sorted(viewer.roles)),
    }
    if viewer.link_invoice_id is not None:
        attributes["link_invoice_id"] = viewer.link_invoice_id
    return attributes


def _viewer_of(item: Mapping[str, Any]) -> Viewer:
    roles = str(item.get("roles", ""))
    return Viewer(
        sub=str(item["sub"]),
        tenant_id=str(item["tenant_id"]),
        roles=frozenset(role for role in roles.split(",") if role),
        link_invoice_id=item.get("link_invoice_id"),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _is_condition_failure(reason: Mapping[str, Any]) -> bool:
    return reason.get("Code") == "ConditionalCheckFailed"


class DynamoConnectionStore:
    """Connections live under `CONN#{id}`; subscriptions beside them, indexed by channel (gsi1).

    The META item keeps a subscription counter so the per-connection limit holds under concurrent
    subscribes: counter and subscription change in one transaction guarded by conditions.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._client = table.meta.client

    def put_connection(self, connection: Connection, expires_at: datetime) -> None:
        item = {
            "pk": connection_pk(connection.connection_id),
            "sk": "META",
            "connection_id": connection.connection_id,
            "connected_at": iso(connection.connected_at),
            "sub_count": 0,
            "ttl": int(expires_at.timestamp()),
            # The minute tick's heartbeat reads one bucket of connections from gsi2.
            "gsi2pk": f"{HEARTBEAT_PREFIX}{heartbeat_bucket(connection.connection_id)}",
            "gsi2sk": connection.connection_id,
            **_viewer_attributes(connection.viewer),
        }
        with _dynamodb_errors("put connection"):
            self._table.put_item(Item=item)

    def get_connection(self, connection_id: str) -> Connection | None:
        with _dynamodb_errors("get connection"):
            item = self._table.get_item(
                Key={"pk": connection_pk(connection_id), "sk": "META"}, ConsistentRead=True
            ).get("Item")
        if item is None:
            return None
        return Connection(connection_id, _viewer_of(item), datetime.fromisoformat(str(item["connected_at"])))

    def delete_connection(self, connection_id: str) -> int:
        keys = list(self._connection_keys(connection_id))
        with _dynamodb_errors("delete connection"), self._table.batch_writer() as batch:
            for key in keys:
                batch.delete_item(Key=key)
        return len(keys)

    def _connection_keys(self, connection_id: str) -> Iterator[dict[str, str]]:
        query: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(connection_pk(connection_id)),
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        with _dynamodb_errors("query connection"):
            while True:
                page = self._table.query(**query)
                for item in page.get("Items", []):
                    yield {"pk": item["pk"], "sk": item["sk"]}
                if "LastEvaluatedKey" not in page:
                    return
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_subscription(
        self, subscriber: Subscriber, channel: str, countdown: bool, limit: int, expires_at: datetime
    ) -> SubscribeOutcome:
        pk = connection_pk(subscriber.connection_id)
        item: dict[str, Any] = {
            "pk": pk,
            "sk": f"SUB#{channel}",
            "connection_id": subscriber.connection_id,
            "channel": channel,
            "gsi1pk": channel_key(channel),
            "gsi1sk": pk,
            "ttl": int(expires_at.timestamp()),
            **_viewer_attributes(subscriber.viewer),
        }
        if countdown:
            item["gsi2pk"] = COUNTDOWNS_KEY
            item["gsi2sk"] = f"{channel}#{subscriber.connection_id}"
        if subscriber.live_after is not None:
            item["live_after"] = subscriber.live_after
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": pk, "sk": "META"},
                            "UpdateExpression": "SET sub_count = if_not_exists(sub_count, :zero) + :one",
                            "ConditionExpression": "attribute_exists(pk) AND "
                            "(attribute_not_exists(sub_count) OR sub_count < :limit)",
                            "ExpressionAttributeValues": {":zero": 0, ":one": 1, ":limit": limit},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if exc.response["Error"]["Code"] != "TransactionCanceledException" or not reasons:
                raise DependencyUnavailable("DynamoDB subscribe failed") from exc
            if _is_condition_failure(reasons[1]):
                return SubscribeOutcome.ALREADY_SUBSCRIBED
            if _is_condition_failure(reasons[0]):
                if self.get_connection(subscriber.connection_id) is None:
                    return SubscribeOutcome.NO_CONNECTION
                return SubscribeOutcome.LIMIT_REACHED
            raise DependencyUnavailable("DynamoDB subscribe was cancelled") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB subscribe failed") from exc
        return SubscribeOutcome.ADDED

    def remove_subscription(self, connection_id: str, channel: str) -> bool:
        pk = connection_pk(connection_id)
        sub_key = {"pk": pk, "sk": f"SUB#{channel}"}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table.name,
                            "Key": sub_key,
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": pk, "sk": "META"},
                            "UpdateExpression": "SET sub_count = sub_count - :one",
                            "ConditionExpression": "attribute_exists(pk) AND sub_count > :zero",
                            "ExpressionAttributeValues": {":zero": 0, ":one": 1},
                        }
                    },
                ]
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if exc.response["Error"]["Code"] != "TransactionCanceledException" or not reasons:
                raise DependencyUnavailable("DynamoDB unsubscribe failed") from exc
            if _is_condition_failure(reasons[0]):
                return False
            # The connection's META is gone (disconnect racing us): nothing left to count, drop the item.
            with _dynamodb_errors("unsubscribe"):
                self._table.delete_item(Key=sub_key)
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB unsubscribe failed") from exc
        return True

    def resume_subscription(self, connection_id: str, channel: str, live_after: int) -> bool:
        try:
            self._table.update_item(
                Key={"pk": connection_pk(connection_id), "sk": f"SUB#{channel}"},
                UpdateExpression="SET live_after = :after REMOVE replay_through",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":after": live_after},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise DependencyUnavailable("DynamoDB resume failed") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB resume failed") from exc
        return True

    def finish_replay(self, connection_id: str, channel: str, through: int) -> None:
        try:
            self._table.update_item(
                Key={"pk": connection_pk(connection_id), "sk": f"SUB#{channel}"},
                UpdateExpression="SET replay_through = :through",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":through": through},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise DependencyUnavailable("DynamoDB finish replay failed") from exc
            # Unsubscribed or disconnected meanwhile: nothing left to mark.
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB finish replay failed") from exc

    def claim_sequence(self, connection_id: str, channel: str, sequence: int, expires_at: datetime) -> bool:
        # Under the connection's own key, so that its disconnect deletes the claims with it.
        try:
            self._table.put_item(
                Item={
                    "pk": connection_pk(connection_id),
                    "sk": f"SENT#{channel}#{sequence:012d}",
                    "ttl": int(expires_at.timestamp()),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise DependencyUnavailable("DynamoDB claim sequence failed") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB claim sequence failed") from exc
        return True

    def subscribers(self, channel: str) -> Iterator[Subscriber]:
        query: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": Key("gsi1pk").eq(channel_key(channel)),
        }
        with _dynamodb_errors("query subscribers"):
            while True:
                page = self._table.query(**query)
                for item in page.get("Items", []):
                    yield Subscriber(
                        str(item["connection_id"]),
                        _viewer_of(item),
                        _optional_int(item.get("live_after")),
                        _optional_int(item.get("replay_through")),
                    )
                if "LastEvaluatedKey" not in page:
                    return
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def countdown_channels(self) -> Iterator[str]:
        query: dict[str, Any] = {
            "IndexName": "gsi2",
            "KeyConditionExpression": Key("gsi2pk").eq(COUNTDOWNS_KEY),
            "ProjectionExpression": "channel",
        }
        seen: set[str] = set()
        with _dynamodb_errors("query countdowns"):
            while True:
                page = self._table.query(**query)
                for item in page.get("Items", []):
                    channel = str(item["channel"])
                    if channel not in seen:
                        seen.add(channel)
                        yield channel
                if "LastEvaluatedKey" not in page:
                    return
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def connections_in(self, bucket: int) -> Iterator[str]:
        query: dict[str, Any] = {
            "IndexName": "gsi2",
            "KeyConditionExpression": Key("gsi2pk").eq(f"{HEARTBEAT_PREFIX}{bucket}"),
            "ProjectionExpression": "connection_id",
        }
        with _dynamodb_errors("query connections"):
            while True:
                page = self._table.query(**query)
                for item in page.get("Items", []):
                    yield str(item["connection_id"])
                if "LastEvaluatedKey" not in page:
                    return
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim_event(self, event_id: str, expires_at: datetime) -> bool:
        try:
            self._table.put_item(
                Item={"pk": f"FANOUT#{event_id}", "sk": "FANOUT", "ttl": int(expires_at.timestamp())},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise DependencyUnavailable("DynamoDB claim event failed") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("DynamoDB claim event failed") from exc
        return True

    def release_event(self, event_id: str) -> None:
        with _dynamodb_errors("release event"):
            self._table.delete_item(Key={"pk": f"FANOUT#{event_id}", "sk": "FANOUT"})
