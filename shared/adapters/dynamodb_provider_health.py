"""ProviderHealthRepository on the table: `PROVIDER#{name}` HEALTH and BREAKER items, `PROVIDERS`/`PRIMARY`.

Every write is conditional on the version it read, so overlapping health checks and concurrent Lambdas
tripping the same breaker agree on one history; outbox items commit in the same transaction. Each health
write and primary change also adds an entry to `PROVIDERHISTORY` (sk: time, kind, provider, version) in
that transaction: the operator's history, newest first, kept HISTORY_RETENTION. One check a minute per
provider is far below one partition's write limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.adapters.dynamodb_cursor import decode_cursor, encode_cursor
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import from_item, put_new, to_item, translated_errors
from shared.errors import DependencyUnavailable
from shared.outbox.records import Record, iso
from shared.providers.models import HealthStatus
from shared.providers.port import HistoryPage
from shared.providers.state import BreakerPhase, BreakerState, HealthRecord, PrimaryRecord

PRIMARY_KEY = {"pk": "PROVIDERS", "sk": "PRIMARY"}
HISTORY_PARTITION = "PROVIDERHISTORY"
HISTORY_RETENTION = timedelta(days=90)
_CHECK, _PRIMARY_CHANGE = "check", "primary"
_BATCH_ATTEMPTS = 5


def provider_pk(name: str) -> str:
    return f"PROVIDER#{name}"


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _stamp(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def health_item(record: HealthRecord) -> dict[str, Any]:
    return {
        "pk": provider_pk(record.name),
        "sk": "HEALTH",
        "entity": "provider_health",
        "name": record.name,
        "status": record.status.value,
        "latency_ms": record.latency_ms,
        "checked_at": iso(record.checked_at),
        "samples": list(record.samples),
        "success_rate": record.success_rate,
        "tps": record.tps,
        "error_rate": record.error_rate,
        "error": record.error,
        "version": record.version,
    }


def health_from_item(values: dict[str, Any]) -> HealthRecord:
    checked_at = _moment(values["checked_at"])
    assert checked_at is not None
    return HealthRecord(
        name=str(values["name"]),
        status=HealthStatus(values["status"]),
        latency_ms=int(values["latency_ms"]),
        checked_at=checked_at,
        samples=tuple(bool(s) for s in values.get("samples", [])),
        tps=Decimal(values["tps"]) if values.get("tps") is not None else None,
        error_rate=Decimal(values["error_rate"]) if values.get("error_rate") is not None else None,
        error=values.get("error"),
        version=int(values["version"]),
    )


def breaker_item(state: BreakerState) -> dict[str, Any]:
    return {
        "pk": provider_pk(state.name),
        "sk": "BREAKER",
        "entity": "provider_breaker",
        "name": state.name,
        "phase": state.phase.value,
        "consecutive_failures": state.consecutive_failures,
        "window_started_at": _stamp(state.window_started_at),
        "window_calls": state.window_calls,
        "window_failures": state.window_failures,
        "opened_at": _stamp(state.opened_at),
        "trial_started_at": _stamp(state.trial_started_at),
        "version": state.version,
    }


def breaker_from_item(values: dict[str, Any]) -> BreakerState:
    return BreakerState(
        name=str(values["name"]),
        phase=BreakerPhase(values["phase"]),
        consecutive_failures=int(values["consecutive_failures"]),
        window_started_at=_moment(values.get("window_started_at")),
        window_calls=int(values["window_calls"]),
        window_failures=int(values["window_failures"]),
        opened_at=_moment(values.get("opened_at")),
        trial_started_at=_moment(values.get("trial_started_at")),
        version=int(values["version"]),
    )


def primary_item(primary: PrimaryRecord) -> dict[str, Any]:
    return {
        **PRIMARY_KEY,
        "entity": "provider_primary",
        "name": primary.name,
        "since": iso(primary.since),
        "reason": primary.reason,
        "previous": primary.previous,
        "version": primary.version,
    }


def primary_from_item(values: dict[str, Any]) -> PrimaryRecord:
    since = _moment(values["since"])
    assert since is not None
    return PrimaryRecord(
        name=values.get("name"),
        since=since,
        reason=str(values["reason"]),
        previous=values.get("previous"),
        version=int(values["version"]),
    )


def _history_item(kind: str, at: datetime, name: str, version: int, item: dict[str, Any]) -> dict[str, Any]:
    return {
        **item,
        "pk": HISTORY_PARTITION,
        "sk": f"{iso(at)}#{kind}#{name}#{version:010d}",
        "entity": f"provider_history_{kind}",
        "kind": kind,
        "ttl": int((at + HISTORY_RETENTION).timestamp()),
    }


def _history_entry(values: dict[str, Any]) -> HealthRecord | PrimaryRecord:
    if values["kind"] == _CHECK:
        return health_from_item(values)
    return primary_from_item(values)


def _versioned_put(table: str, item: dict[str, Any], expected_version: int) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": table, "Item": to_item(item)}
    if expected_version == 0:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "#version = :expected"
        put["ExpressionAttributeNames"] = {"#version": "version"}
        put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
    return put


class DynamoDBProviderHealthRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def snapshot(
        self, names: Sequence[str]
    ) -> tuple[dict[str, HealthRecord], dict[str, BreakerState], PrimaryRecord | None]:
        keys = [_key(PRIMARY_KEY["pk"], PRIMARY_KEY["sk"])]
        for name in names:
            keys += [_key(provider_pk(name), "HEALTH"), _key(provider_pk(name), "BREAKER")]
        health: dict[str, HealthRecord] = {}
        breakers: dict[str, BreakerState] = {}
        primary: PrimaryRecord | None = None
        for item in self._batch_get(keys):
            values = from_item(item)
            if values["sk"] == "HEALTH":
                record = health_from_item(values)
                health[record.name] = record
            elif values["sk"] == "BREAKER":
                state = breaker_from_item(values)
                breakers[state.name] = state
            else:
                primary = primary_from_item(values)
        return health, breakers, primary

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(_BATCH_ATTEMPTS):
            with translated_errors():
                response = self._client.batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(self._table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
        # Throttled beyond a few rounds: the table is too busy to say what is recorded.
        raise DependencyUnavailable("the table is busy; retry")

    def put_health(self, record: HealthRecord, expected_version: int, records: list[Record]) -> None:
        item = health_item(record)
        entry = _history_item(_CHECK, record.checked_at, record.name, record.version, item)
        self._write(_versioned_put(self._table, item, expected_version), [*records, entry])

    def put_breaker(self, state: BreakerState, expected_version: int) -> None:
        self._write(_versioned_put(self._table, breaker_item(state), expected_version), [])

    def put_primary(self, primary: PrimaryRecord, expected_version: int, records: list[Record]) -> None:
        item = primary_item(primary)
        entry = _history_item(_PRIMARY_CHANGE, primary.since, primary.name or "none", primary.version, item)
        self._write(_versioned_put(self._table, item, expected_version), [*records, entry])

    def history(self, limit: int, cursor: str | None) -> HistoryPage:
        if not 1 <= limit <= 100:
            raise ValueError("limit must be 1..100")
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": HISTORY_PARTITION}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor:
            request["ExclusiveStartKey"] = decode_cursor(
                cursor, ("pk", "sk"), lambda key: key["pk"] == HISTORY_PARTITION
            )
        with translated_errors():
            response = self._client.query(**request)
        items = response.get("Items", [])
        page = items[:limit]
        next_cursor = encode_cursor(page[-1], ("pk", "sk")) if len(items) > limit and page else None
        return HistoryPage([_history_entry(from_item(item)) for item in page], next_cursor)

    def _write(self, put: dict[str, Any], records: list[Record]) -> None:
        with translated_errors():
            if not records:
                self._client.put_item(**put)
                return
            items = [{"Put": put}] + [put_new(self._table, record) for record in records]
            transact_write(self._client, items)
