"""Ports of the enterprise views: the audit trail and the destruction logs, each read per tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.destruction.ports import DestructionLog


@dataclass(frozen=True)
class AuditEntry:
    audit_id: str
    entity_id: str
    action: str
    actor: str
    tenant_id: str
    changes: dict[str, Any]
    ip_address: str | None
    request_id: str | None
    at: datetime


@dataclass(frozen=True)
class AuditQuery:
    """One page of a tenant's audit entries, newest first; `resource_id` and `actor` narrow it."""

    tenant_id: str
    limit: int
    resource_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class StoredDestructionLog:
    log: DestructionLog
    tenant_id: str
    created_at: datetime


@dataclass(frozen=True)
class DestructionLogPage:
    logs: list[StoredDestructionLog]
    next_cursor: str | None


class AuditTrail(Protocol):
    def page(self, query: AuditQuery) -> AuditPage:
        """A page of the tenant's entries; a cursor this list did not issue is ValidationFailed."""
        ...


class DestructionLogs(Protocol):
    def get(self, wallet_id: str) -> StoredDestructionLog | None: ...

    def page(self, tenant_id: str, limit: int, cursor: str | None) -> DestructionLogPage: ...
