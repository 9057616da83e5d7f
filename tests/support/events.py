"""Records as the table stores them: fakes keep DomainEvents as their event items and AuditEntries as their
audit items, so tests read the same fields (event_name, data, channels, resource_*, action, ...) a
moto-backed test reads from the table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.adapters.dynamodb_audit_entries import audit_item
from shared.adapters.dynamodb_events import event_item
from shared.outbox.records import AuditEntry, DomainEvent


def as_item(record: Any) -> Any:
    if isinstance(record, DomainEvent):
        return event_item(record)
    if isinstance(record, AuditEntry):
        return audit_item(record)
    return record


def as_items(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [as_item(r) for r in records]
