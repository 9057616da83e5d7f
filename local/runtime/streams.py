"""DynamoDB stream event source mappings: poll moto's stream and invoke functions as Lambda's poller does."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.runtime.context import FunctionError, RuntimeContext
from local.runtime.patterns import FilterCriteria
from local.runtime.ttl import TTL_IDENTITY, TtlDeletions

# Idle, a poller waits for moto's middleware to pulse a DynamoDB write (wakeups.py); this is only the
# fallback for a write that could reach moto some other way.
IDLE_POLL = 2.0
# Under a burst of writes every write pulses: a poller reads at most this often (real seconds), so one read
# takes a burst's records instead of each write costing reads under the runtime's DynamoDB lock. Far under
# the 0.15 s pollers used to nap between reads, so no record waits longer than it did.
WAKE_SPACING = 0.05
# The shortest wait for a batching window to close (a window closing sooner is delivered at the next poll).
MIN_WAIT = 0.005
SHARD_REFRESH = 5.0
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 2.0
READ_LIMIT = 1000


def stream_table_name(arn: str) -> str | None:
    """The table of a DynamoDB stream ARN (`arn:...:table/NAME/stream/LABEL`), else None."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[2] != "dynamodb":
        return None
    path = parts[5].split("/")
    if len(path) >= 3 and path[0] == "table" and path[2] == "stream":
        return path[1]
    return None


def to_virtual(ctx: RuntimeContext, real_epoch: float) -> float:
    """A wall-clock instant (as moto stamps things) on the runtime's virtual clock."""
    clock = ctx.clock
    return clock.origin + (real_epoch - clock.origin) * clock.speed


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class _Pending:
    record: dict[str, Any]
    created: float

    @property
    def sequence(self) -> str:
        return str(self.record["dynamodb"]["SequenceNumber"])


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    started: bool = False
    exhausted: bool = False
    last_read: str | None = None
    buffer: list[_Pending] = field(default_factory=list)
    window_started: float = 0.0  # virtual instant the oldest buffered record was taken


@dataclass
class _Outcome:
    kind: str  # "ok", "partial" or "error"
    failed_from: int = 0
    error: dict[str, Any] | None = None


@dataclass
class MappingSettings:
    """The AWS::Lambda::EventSourceMapping properties Lambda applies to a DynamoDB stream."""

    batch_size: int
    batching_window: float
    starting_position: str
    report_failures: bool
    bisect: bool
    max_retries: int
    max_record_age: int
    on_failure: str | None
    enabled: bool

    @classmethod
    def of(cls, props: dict[str, Any]) -> MappingSettings:
        destination = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
        return cls(
            batch_size=int(props.get("BatchSize", 100)),
            batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_record_age=int(props.get("MaximumRecordAgeInSeconds", -1)),
            on_failure=destination.get("Destination"),
            enabled=str(props.get("Enabled", True)).lower() != "false",
        )


class StreamPoller:
    """One thread per mapping: reads every shard in order, filters, batches, invokes, retries."""

    def __init__(
        self,
        ctx: RuntimeContext,
        logical_id: str,
        properties: dict[str, Any],
        deletions: TtlDeletions,
        ttl_attribute: Callable[[str], str | None],
    ) -> None:
        self.ctx = ctx
        self.logical_id = logical_id
        self.settings = MappingSettings.of(properties)
        self.filters = FilterCriteria(properties.get("FilterCriteria"))
        function = ctx.template.logical_id_for(str(properties["FunctionName"]))
        if function is None:
            raise ValueError(f"{logical_id}: no function {properties['FunctionName']!r} in the template")
        self.function = function
        table = stream_table_name(str(properties["EventSourceArn"]))
        if table is None:
            raise ValueError(f"{logical_id}: {properties['EventSourceArn']!r} is not a DynamoDB stream")
        self.table = table
        self.deletions = deletions
        self.ttl_attribute = ttl_attribute
        self.wakeup = ctx.wakeups.dynamodb
        self.streams = ctx.aws("dynamodbstreams")
        self.region = self.streams.meta.region_name
        self.stream_arn = ""
        self.shards: dict[str, _Shard] = {}
        self.counts = {"read": 0, "filtered": 0, "invocations": 0, "delivered": 0, "failed": 0, "errors": 0}
        self._shards_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{logical_id}", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if not self.settings.enabled:
            return
        description = self.ctx.aws("dynamodb").describe_table(TableName=self.table)["Table"]
        if "LatestStreamArn" not in description:
            raise ValueError(f"{self.logical_id}: table {self.table} has no stream")
        self.stream_arn = description["LatestStreamArn"]
        # LATEST means "from now": pin the position before anything else can write.
        self._refresh_shards(initial=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.pulse()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        shards = list(self.shards.values())
        pending = [p for s in shards for p in list(s.buffer)]
        oldest = min((p.created for p in pending), default=None)
        return {
            "function": self.function,
            "table": self.table,
            "enabled": self.settings.enabled,
            "positions": {s.shard_id: s.last_read for s in shards},
            "pending": len(pending),
            "lag_seconds": 0.0 if oldest is None else round(self.ctx.clock.now() - oldest, 3),
            **self.counts,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            # Read before polling: a write landing during the poll then ends the wait below at once.
            seen = self.wakeup.count
            started = time.monotonic()
            try:
                if time.monotonic() - self._shards_at > SHARD_REFRESH:
                    self._refresh_shards(initial=False)
                busy = any([self._poll(shard) for shard in list(self.shards.values()) if self._ready(shard)])
            except Exception:
                self.ctx.log.exception("stream mapping %s: poll failed", self.logical_id)
                busy = False
            if not busy and self.wakeup.wait(seen, self._idle_wait()):
                self._stop.wait(max(0.0, started + WAKE_SPACING - time.monotonic()))

    def _idle_wait(self) -> float:
        """Real seconds to wait for a write: the fallback, or until the first open batching window closes."""
        started = [s.window_started for s in list(self.shards.values()) if s.buffer]
        if not started:
            return IDLE_POLL
        closes = min(started) + self.settings.batching_window
        until = self.ctx.clock.real_seconds(closes - self.ctx.clock.now())
        return min(IDLE_POLL, max(MIN_WAIT, until))

    # -- shards ---------------------------------------------------------------------------------
    def _refresh_shards(self, *, initial: bool) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self.shards:
                self.shards[shard["ShardId"]] = _Shard(shard["ShardId"], shard.get("ParentShardId"))
                # Shards that appear later are children: Lambda reads them from their beginning.
                position = self.settings.starting_position if initial else "TRIM_HORIZON"
                if position == "LATEST":
                    self._skip_to_end(self.shards[shard["ShardId"]])
                else:
                    self._open(self.shards[shard["ShardId"]], position)
        self._shards_at = time.monotonic()

    def _open(self, shard: _Shard, position: str) -> None:
        kwargs: dict[str, Any] = {"ShardIteratorType": position}
        if shard.last_read is not None:
            kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_read}
        response = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard.shard_id, **kwargs
        )
        shard.iterator = response["ShardIterator"]
        shard.started = True

    def _skip_to_end(self, shard: _Shard) -> None:
        """LATEST as a concrete position: read past what is there now, so a later reopen cannot go back."""
        self._open(shard, "TRIM_HORIZON")
        while shard.iterator is not None:
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=READ_LIMIT)
            shard.iterator = response.get("NextShardIterator")
            if not response["Records"]:
                break
            shard.last_read = response["Records"][-1]["dynamodb"]["SequenceNumber"]

    def _ready(self, shard: _Shard) -> bool:
        parent = self.shards.get(shard.parent_id or "")
        return shard.started and not shard.exhausted and (parent is None or parent.exhausted)

    # -- reading and batching -------------------------------------------------------------------
    def _poll(self, shard: _Shard) -> bool:
        got = 0
        if shard.iterator is not None and len(shard.buffer) < self.settings.batch_size:
            try:
                response = self.streams.get_records(ShardIterator=shard.iterator, Limit=READ_LIMIT)
            except Exception as error:
                # An iterator can expire or be lost; reopen just after the last record read.
                self.ctx.log.warning("stream mapping %s: get_records failed: %s", self.logical_id, error)
                self._open(shard, self.settings.starting_position)
                return False
            shard.iterator = response.get("NextShardIterator")
            for raw in response["Records"]:
                got += 1
                self._take(shard, raw)
            if not got and shard.iterator is not None:
                # moto rolls a cancelled transaction back by swapping in a deep copy of the table, so an
                # open iterator can be left on an orphaned shard that never grows; when a read comes back
                # empty, reopen just after the last record read (LATEST was pinned the same way at start).
                self._open(shard, "TRIM_HORIZON")
        if not shard.buffer:
            shard.exhausted = shard.iterator is None
            return got > 0
        full = len(shard.buffer) >= self.settings.batch_size
        # The window is a duration of the emulated world, like MaximumRecordAgeInSeconds: virtual seconds,
        # read on the runtime's clock (which a test may hold still).
        waited = self.ctx.clock.now() - shard.window_started >= self.settings.batching_window
        if full or waited or shard.iterator is None:
            batch = shard.buffer[: self.settings.batch_size]
            del shard.buffer[: self.settings.batch_size]
            shard.window_started = self.ctx.clock.now()
            self._deliver(shard, batch)
            return True
        return got > 0

    def _take(self, shard: _Shard, raw: dict[str, Any]) -> None:
        self.counts["read"] += 1
        pending = self._lambda_record(raw)
        shard.last_read = pending.sequence
        if not self.filters.matches(pending.record):
            self.counts["filtered"] += 1
            return
        if not shard.buffer:
            shard.window_started = self.ctx.clock.now()
        shard.buffer.append(pending)

    def _lambda_record(self, raw: dict[str, Any]) -> _Pending:
        stream = _as_json(dict(raw["dynamodb"]))
        created = stream["ApproximateCreationDateTime"]
        real = created.timestamp() if isinstance(created, datetime) else float(created)
        virtual = to_virtual(self.ctx, real)
        stream["ApproximateCreationDateTime"] = int(virtual)
        record: dict[str, Any] = {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": stream,
            "eventSourceARN": self.stream_arn,
        }
        if self.deletions.is_ttl_removal(self.table, raw, self.ttl_attribute(self.table)):
            record["userIdentity"] = dict(TTL_IDENTITY)
        return _Pending(record, virtual)

    # -- invoking -------------------------------------------------------------------------------
    def _deliver(self, shard: _Shard, records: list[_Pending]) -> None:
        """Invoke until the batch succeeds or is discarded; the shard waits meanwhile (strict order)."""
        work: deque[tuple[list[_Pending], int]] = deque([(records, 0)])
        backoff = FIRST_BACKOFF
        while work and not self._stop.is_set():
            batch, retries = work.popleft()
            batch = self._drop_expired(shard, batch, retries)
            if not batch:
                continue
            outcome = self._invoke(batch)
            if outcome.kind == "ok":
                self.counts["delivered"] += len(batch)
                backoff = FIRST_BACKOFF
                continue
            self.counts["errors"] += 1
            self.counts["delivered"] += outcome.failed_from
            remaining = batch[outcome.failed_from :]
            if outcome.kind == "error" and self.settings.bisect and len(remaining) > 1:
                # Splitting a batch does not use up a retry (as in Lambda).
                half = len(remaining) // 2
                work.extendleft([(remaining[half:], retries), (remaining[:half], retries)])
                continue
            retries += 1
            if 0 <= self.settings.max_retries < retries:
                self._discard(shard, remaining, "RetryAttemptsExhausted", retries, outcome.error)
                continue
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            work.appendleft((remaining, retries))

    def _drop_expired(self, shard: _Shard, batch: list[_Pending], invokes: int) -> list[_Pending]:
        if self.settings.max_record_age < 0:
            return batch
        oldest_allowed = self.ctx.clock.now() - self.settings.max_record_age
        expired = [p for p in batch if p.created < oldest_allowed]
        if expired:
            self._discard(shard, expired, "RecordAgeExceeded", invokes, None)
        return [p for p in batch if p.created >= oldest_allowed]

    def _invoke(self, batch: list[_Pending]) -> _Outcome:
        self.counts["invocations"] += 1
        try:
            response = self.ctx.functions.invoke(self.function, {"Records": [p.record for p in batch]})
        except FunctionError as error:
            return _Outcome("error", error=error.payload)
        except Exception as error:
            self.ctx.log.warning("stream mapping %s: invoke failed: %s", self.logical_id, error)
            return _Outcome("error", error={"errorMessage": str(error), "errorType": type(error).__name__})
        if not self.settings.report_failures:
            return _Outcome("ok")
        return self._partial(batch, response)

    @staticmethod
    def _partial(batch: list[_Pending], response: Any) -> _Outcome:
        """Lambda's reading of a partial batch response; anything malformed fails the whole batch."""
        invalid = _Outcome("error", error={"errorMessage": "invalid partial batch response"})
        if response is None:
            return _Outcome("ok")
        if not isinstance(response, dict):
            return invalid
        failures = response.get("batchItemFailures")
        if not failures:
            return _Outcome("ok")
        if not isinstance(failures, list):
            return invalid
        sequences = [p.sequence for p in batch]
        indexes = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in sequences:
                return invalid
            indexes.append(sequences.index(identifier))
        return _Outcome("partial", failed_from=min(indexes))

    def _discard(
        self, shard: _Shard, batch: list[_Pending], condition: str, invokes: int, error: dict[str, Any] | None
    ) -> None:
        self.counts["failed"] += len(batch)
        self.ctx.log.warning(
            "stream mapping %s: %d record(s) discarded (%s)", self.logical_id, len(batch), condition
        )
        if self.settings.on_failure:
            self._send_failure(
                self.settings.on_failure, self._failure_record(shard, batch, condition, invokes, error)
            )

    def _failure_record(
        self, shard: _Shard, batch: list[_Pending], condition: str, invokes: int, error: dict[str, Any] | None
    ) -> dict[str, Any]:
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if error is not None:
            response["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.ctx.template.arn(self.function),
                "condition": condition,
                "approximateInvokeCount": invokes,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": iso(self.ctx.clock.now()),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": batch[0].sequence,
                "endSequenceNumber": batch[-1].sequence,
                "approximateArrivalOfFirstRecord": iso(batch[0].created),
                "approximateArrivalOfLastRecord": iso(batch[-1].created),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }

    def _send_failure(self, destination: str, message: dict[str, Any]) -> None:
        body = json.dumps(message)
        try:
            if ":sqs:" in destination:
                _, _, _, _, account, name = destination.split(":", 5)
                sqs = self.ctx.aws("sqs")
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            elif ":sns:" in destination:
                self.ctx.aws("sns").publish(TopicArn=destination, Message=body)
            else:
                self.ctx.log.error(
                    "stream mapping %s: unsupported destination %s", self.logical_id, destination
                )
        except Exception:
            self.ctx.log.exception("stream mapping %s: could not send to %s", self.logical_id, destination)


def _as_json(value: Any) -> Any:
    """The record as Lambda's JSON event carries it: botocore decodes B/BS to bytes, Lambda sends base64."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_as_json(item) for item in value]
    return value
