"""Rate-limit windows and tenants' limit overrides on the one table.

A window is the item `RATE#<caller>` / `<window start, epoch seconds>` holding `count`; its `ttl` lets the
table delete it a minute after the window ends (in the table clock's terms: the local runtime's TTL sweep
runs on the scaled clock, so the delay is scaled with it). A tenant's overrides are the item
`TENANT#<tenant>` / `RATE_LIMITS`, whose number attributes named as `RateLimits`' fields replace the
defaults; it is read at most once a minute per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.adapters.dynamodb_table import from_item, translated_errors
from shared.api.rate_limits import RateLimits
from shared.errors import ConcurrentUpdate

LIMITS_SK = "RATE_LIMITS"
_NAMES = {"#count": "count", "#ttl": "ttl", "#entity": "entity"}


def window_key(key: str, window_start: int) -> dict[str, Any]:
    return {"pk": {"S": f"RATE#{key}"}, "sk": {"S": str(window_start)}}


def limits_key(tenant_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": LIMITS_SK}}


class DynamoDBRateCounter:
    def __init__(self, client: Any, table_name: str, table_epoch: Callable[[], float], speed: float) -> None:
        self._client = client
        self._table = table_name
        self._table_epoch = table_epoch
        self._speed = speed

    def take(self, key: str, window_start: int, limit: int, expires_in: float) -> int | None:
        ttl = int(self._table_epoch() + expires_in * self._speed) + 1
        try:
            with translated_errors():
                response = self._client.update_item(
                    TableName=self._table,
                    Key=window_key(key, window_start),
                    UpdateExpression="ADD #count :one "
                    "SET #ttl = if_not_exists(#ttl, :ttl), #entity = :entity",
                    ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":ttl": {"N": str(ttl)},
                        ":entity": {"S": "rate_window"},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except ConcurrentUpdate:  # the window is full
            return None
        return int(response["Attributes"]["count"]["N"])

    def give_back(self, key: str, window_start: int) -> None:
        try:
            with translated_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=window_key(key, window_start),
                    UpdateExpression="ADD #count :minus",
                    ConditionExpression="#count > :zero",
                    ExpressionAttributeNames={"#count": "count"},
                    ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
                )
        except ConcurrentUpdate:
            return


class DynamoDBTenantLimits:
    """Tenants' limits, each read at most once per `cache_seconds` (real time) by this process."""

    MAX_CACHED = 10_000

    def __init__(
        self,
        client: Any,
        table_name: str,
        cache_seconds: float = 60.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._table = table_name
        self._cache_seconds = cache_seconds
        self._now = now
        self._cache: dict[str, tuple[float, RateLimits]] = {}

    def limits(self, tenant_id: str) -> RateLimits:
        now = self._now()
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        with translated_errors():
            item = self._client.get_item(TableName=self._table, Key=limits_key(tenant_id)).get("Item")
        limits = RateLimits.with_overrides(from_item(item)) if item else RateLimits()
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[tenant_id] = (now + self._cache_seconds, limits)
        return limits

    def live_ephemeral_cap(self, tenant_id: str) -> int:
        return self.limits(tenant_id).live_ephemeral_wallets
