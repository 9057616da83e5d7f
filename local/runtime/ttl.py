"""DynamoDB TTL on virtual time: sweep expired items out of moto and mark their REMOVE stream records."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any

from botocore.exceptions import ClientError

from local.runtime.context import RuntimeContext
from local.runtime.wakeups import Wakeup

SWEEP_INTERVAL = 0.25
# Like the real service, an item whose TTL lies more than five years in the past is never expired.
FIVE_YEARS = 5 * 365 * 24 * 3600
TABLES_REFRESH = 2.0
MAX_REMEMBERED = 100_000
# Items found due before the next sweep, kept to be expired on the second (beyond this, the next sweep does).
MAX_SOON = 10_000
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class TtlDeletions:
    """Which REMOVE records the sweeper caused; shared by the sweeper and every stream poller.

    moto's stream records carry no userIdentity, so a REMOVE is attributed to TTL when it deletes the
    keys (and the TTL value) the sweeper deleted. The sweeper holds the lock from its delete until the
    mark is stored, and a poller resolves under the same lock, so a poller that reads the REMOVE
    before the mark exists waits for it. The first resolution of a sequence number is remembered, so
    every mapping on the same stream sees the same answer.

    Each mark pulses `wakeup`, the DynamoDB Wakeup the stream pollers idle on, so a TTL REMOVE reaches its
    mapping without waiting out a poller's fallback (moto's middleware pulses it for the DeleteItem too;
    this pulse does not depend on it).
    """

    def __init__(self, wakeup: Wakeup | None = None) -> None:
        self.lock = threading.RLock()
        self.wakeup = wakeup or Wakeup()
        self._pending: OrderedDict[tuple[str, str], list[str | None]] = OrderedDict()
        self._decided: OrderedDict[tuple[str, str], bool] = OrderedDict()

    def mark(self, table: str, keys: dict[str, Any], ttl_value: Any) -> None:
        with self.lock:
            self._pending.setdefault((table, _canonical(keys)), []).append(
                None if ttl_value is None else _canonical(ttl_value)
            )
            self._pending.move_to_end((table, _canonical(keys)))
            while len(self._pending) > MAX_REMEMBERED:
                self._pending.popitem(last=False)
        self.wakeup.pulse()

    def is_ttl_removal(self, table: str, record: dict[str, Any], ttl_attribute: str | None) -> bool:
        """Whether this REMOVE stream record (moto's shape) was a TTL deletion."""
        if record.get("eventName") != "REMOVE":
            return False
        stream = record["dynamodb"]
        decided_key = (table, str(stream["SequenceNumber"]))
        with self.lock:
            if decided_key in self._decided:
                return self._decided[decided_key]
            verdict = self._claim(table, stream, ttl_attribute)
            self._decided[decided_key] = verdict
            while len(self._decided) > MAX_REMEMBERED:
                self._decided.popitem(last=False)
            return verdict

    def _claim(self, table: str, stream: dict[str, Any], ttl_attribute: str | None) -> bool:
        pending_key = (table, _canonical(stream.get("Keys", {})))
        marks = self._pending.get(pending_key)
        if not marks:
            return False
        old_image = stream.get("OldImage")
        if old_image is not None and ttl_attribute:
            seen = old_image.get(ttl_attribute)
            wanted = None if seen is None else _canonical(seen)
            if wanted not in marks:
                return False
            marks.remove(wanted)
        else:
            marks.pop(0)
        if not marks:
            del self._pending[pending_key]
        return True


class TtlSweeper:
    """Deletes items whose TTL attribute (epoch seconds) is at or before the virtual now."""

    def __init__(
        self, ctx: RuntimeContext, deletions: TtlDeletions, interval: float = SWEEP_INTERVAL
    ) -> None:
        self.ctx = ctx
        self.deletions = deletions
        self.interval = interval
        self.client = ctx.aws("dynamodb")
        self.sweeps = 0
        self.expired = 0
        self.last_sweep_seconds = 0.0
        self._tables: dict[str, tuple[str, list[str], bool]] = {}
        self._tables_at = 0.0
        # (table, keys) -> (ttl, attribute, keys, ttl value, streamed): due before the next sweep.
        self._soon: dict[tuple[str, str], tuple[float, str, dict[str, Any], dict[str, Any], bool]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ttl-sweeper", daemon=True)

    def ttl_attribute(self, table: str) -> str | None:
        entry = self._tables.get(table)
        return entry[0] if entry else None

    def start(self) -> None:
        self._refresh_tables(force=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        return {
            "tables": {name: entry[0] for name, entry in self._tables.items()},
            "sweeps": self.sweeps,
            "expired": self.expired,
            "last_sweep_seconds": round(self.last_sweep_seconds, 4),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sweep()
            except Exception:
                self.ctx.log.exception("ttl sweep failed")
            self.last_sweep_seconds = time.monotonic() - started
            # A sweep scans whole tables: keep it under a fifth of one core however large they grow.
            next_sweep = time.monotonic() + max(self.interval, 4 * self.last_sweep_seconds)
            # Between sweeps, expire on its second what the last sweep saw coming: a sweep period alone
            # would be multiplied by the speed factor (0.25 s at speed 20 is 5 virtual seconds late).
            while not self._stop.is_set():
                remaining = next_sweep - time.monotonic()
                if remaining <= 0:
                    break
                if self._stop.wait(min(remaining, self._until_next_due())):
                    break
                try:
                    self.expired += self._expire_due()
                except Exception:
                    self.ctx.log.exception("ttl expiry failed")

    def _until_next_due(self) -> float:
        if not self._soon:
            return math.inf
        first = min(entry[0] for entry in self._soon.values())
        return max(0.0, self.ctx.clock.real_seconds(first - self.ctx.clock.now()))

    def _expire_due(self) -> int:
        """Delete the remembered items whose TTL has come (each tried once; a sweep catches any left)."""
        now = self.ctx.clock.now()
        due = [key for key, entry in self._soon.items() if entry[0] <= now]
        expired = 0
        for key in due:
            _due, attribute, keys, ttl_value, streamed = self._soon.pop(key)
            expired += self._expire(key[0], attribute, keys, ttl_value, streamed)
        return expired

    def _lookahead(self) -> int:
        """Virtual seconds past now that a sweep remembers: until a little after the next sweep."""
        real = 2 * self.interval + 4 * self.last_sweep_seconds
        return math.ceil(real * self.ctx.clock.speed) + 1

    def _refresh_tables(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._tables_at < TABLES_REFRESH:
            return
        tables: dict[str, tuple[str, list[str], bool]] = {}
        for page in self.client.get_paginator("list_tables").paginate():
            for name in page["TableNames"]:
                try:
                    spec = self.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                    if spec.get("TimeToLiveStatus") != "ENABLED":
                        continue
                    table = self.client.describe_table(TableName=name)["Table"]
                except ClientError:
                    continue
                keys = [k["AttributeName"] for k in table["KeySchema"]]
                tables[name] = (spec["AttributeName"], keys, "LatestStreamArn" in table)
        self._tables = tables
        self._tables_at = time.monotonic()

    def sweep(self) -> int:
        """One pass over every TTL-enabled table; returns how many items expired."""
        self._refresh_tables()
        now = int(self.ctx.clock.now())
        horizon = now + self._lookahead()
        expired = sum(self._sweep_table(name, *entry, now, horizon) for name, entry in self._tables.items())
        self.sweeps += 1
        self.expired += expired
        return expired

    def _sweep_table(
        self, table: str, attribute: str, key_names: list[str], streamed: bool, now: int, horizon: int
    ) -> int:
        direct = self.ctx.ttl_candidates
        found = direct(table, attribute, now - FIVE_YEARS, horizon) if direct is not None else None
        if found is None:
            found = self._scanned(table, attribute, key_names, now, horizon)
        expired = 0
        for keys, ttl_value in found:
            if self._stop.is_set():
                return expired
            due = _epoch_seconds(ttl_value)
            if due is None:
                continue
            if due <= now:
                self._soon.pop((table, _canonical(keys)), None)
                expired += self._expire(table, attribute, keys, ttl_value, streamed)
            elif len(self._soon) < MAX_SOON:
                self._soon[(table, _canonical(keys))] = (due, attribute, keys, ttl_value, streamed)
        return expired

    def _scanned(
        self, table: str, attribute: str, key_names: list[str], now: int, horizon: int
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The items due in the window through a Scan (when moto's backend cannot be read directly)."""
        names = {"#ttl": attribute} | {f"#k{i}": key for i, key in enumerate(key_names)}
        projection = ", ".join(["#ttl", *(f"#k{i}" for i in range(len(key_names)))])
        paginator = self.client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=table,
            FilterExpression="#ttl BETWEEN :floor AND :horizon",
            ProjectionExpression=projection,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":floor": {"N": str(now - FIVE_YEARS)},
                ":horizon": {"N": str(horizon)},
            },
        )
        return [
            ({k: item[k] for k in key_names}, item[attribute]) for page in pages for item in page["Items"]
        ]

    def _expire(
        self, table: str, attribute: str, keys: dict[str, Any], ttl_value: dict[str, Any], streamed: bool
    ) -> int:
        with self.deletions.lock:
            try:
                self.client.delete_item(
                    TableName=table,
                    Key=keys,
                    ConditionExpression="#ttl = :seen",
                    ExpressionAttributeNames={"#ttl": attribute},
                    ExpressionAttributeValues={":seen": ttl_value},
                )
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    return 0
                raise
            if streamed:
                self.deletions.mark(table, keys, ttl_value)
        return 1


def _epoch_seconds(value: dict[str, Any]) -> float | None:
    """A TTL attribute's epoch seconds; None for anything not a number (DynamoDB ignores those)."""
    try:
        return float(value["N"])
    except (KeyError, TypeError, ValueError):
        return None
