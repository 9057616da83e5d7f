"""The EventBridge adapter of the EventBus port: PutEvents in chunks, failures mapped back per event."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import Settings
from shared.outbox.publisher import EVENT_SOURCE, BusEventDetail

logger = logging.getLogger(__name__)

EVENTS_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


def events_client(settings: Settings) -> Any:
    import boto3  # on first use: the stream and realtime functions' imports stay light

    return boto3.client("events", region_name=settings.aws_region, config=EVENTS_CONFIG)


MAX_ENTRIES_PER_CALL = 10
# PutEvents refuses a request whose entries add up to more than 256 KiB (AWS's size formula below).
MAX_REQUEST_BYTES = 256 * 1024


def entry_size(entry: dict[str, Any]) -> int:
    """The size AWS charges an entry against the request limit (EventBridge "PutEvents entry size")."""
    size = len(entry["Source"].encode()) + len(entry["DetailType"].encode()) + len(entry["Detail"].encode())
    return size + sum(len(resource.encode()) for resource in entry.get("Resources", []))


class EventBridgeBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def entry(self, detail: BusEventDetail) -> dict[str, Any]:
        return {
            "EventBusName": self._bus_name,
            "Source": EVENT_SOURCE,
            "DetailType": detail.event,
            "Detail": json.dumps(detail.model_dump(mode="json"), separators=(",", ":")),
        }

    def publish(self, details: Sequence[BusEventDetail]) -> list[str | None]:
        errors: list[str | None] = [None] * len(details)
        chunk: list[int] = []
        chunk_bytes = 0
        entries = [self.entry(detail) for detail in details]
        for index, entry in enumerate(entries):
            size = entry_size(entry)
            if size > MAX_REQUEST_BYTES:
                errors[index] = "EntryTooLarge"
                continue
            if len(chunk) == MAX_ENTRIES_PER_CALL or chunk_bytes + size > MAX_REQUEST_BYTES:
                self._put(chunk, entries, errors)
                chunk, chunk_bytes = [], 0
            chunk.append(index)
            chunk_bytes += size
        if chunk:
            self._put(chunk, entries, errors)
        return errors

    def _put(self, chunk: list[int], entries: list[dict[str, Any]], errors: list[str | None]) -> None:
        try:
            response = self._client.put_events(Entries=[entries[index] for index in chunk])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("PutEvents of %d entries failed: %s", len(chunk), exc)
            for index in chunk:
                errors[index] = type(exc).__name__
            return
        results = response.get("Entries", [])
        if len(results) != len(chunk):
            # AWS answers one result per entry, in order; anything else cannot be mapped, so retry all.
            for index in chunk:
                errors[index] = "UnmappableResponse"
            return
        for index, result in zip(chunk, results, strict=True):
            if result.get("ErrorCode") or not result.get("EventId"):
                errors[index] = str(result.get("ErrorCode") or "NoEventId")
