"""Records as the table stores them: fakes keep DomainEvents as their event items, so tests read the same
fields (event_name, data, channels, resource_*) a moto-backed test reads from the table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.adapters.dynamodb_events import event_item
from shared.outbox.records import DomainEvent


def as_items(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [event_item(r) if isinstance(r, DomainEvent) else r for r in records]
