"""Ports of the enterprise views: the audit trail and the destruction logs, each read per tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.destruction.ports import DestructionLog
from shared.outbox.records import AuditEntry, Record


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


@dataclass(frozen=True)
class InvoiceImport:
    """An import's record: what was accepted, and how far its background batches have come."""

    import_id: str
    tenant_id: str
    actor: str
    reference: str | None
    rows: int
    invoices: int
    batches: int
    batches_done: int
    created: int
    failed: int
    created_at: datetime
    completed_at: datetime | None = None

    @property
    def status(self) -> Literal["queued", "running", "completed", "completed_with_errors"]:
        if self.batches_done >= self.batches:
            return "completed" if self.failed == 0 else "completed_with_errors"
        return "running" if self.batches_done > 0 else "queued"


@dataclass(frozen=True)
class ImportBatch:
    """Up to 31 of an import's invoices as rows, checked and created in one transaction by the worker
    (`groups`: each invoice's rows as `{row, data}`, `row` numbered in the whole import)."""

    import_id: str
    number: int
    groups: list[list[dict[str, Any]]]


class ReferenceTaken(Exception):
    """An import with this reference was accepted within 30 days: `import_id` is that one."""

    def __init__(self, import_id: str) -> None:
        super().__init__(import_id)
        self.import_id = import_id


class ImportStore(Protocol):
    def accept(
        self,
        record: InvoiceImport,
        batches: list[ImportBatch],
        reference_until: datetime | None,
        records: list[Record],
    ) -> None:
        """Store the import and its batches; with a reference, ReferenceTaken if it is live."""
        ...

    def get(self, import_id: str) -> InvoiceImport | None: ...

    def errors(self, import_id: str) -> list[dict[str, Any]]: ...

    def batch(self, import_id: str, number: int) -> tuple[ImportBatch, bool] | None:
        """The batch and whether it is done already."""
        ...

    def open_batches(self, import_id: str) -> list[int]: ...

    def store_batch(
        self,
        record: InvoiceImport,
        batch: ImportBatch,
        invoices: list[Any],
        last: int,
        previous: int | None,
        records: list[Record],
        errors: list[dict[str, Any]],
        failed: int,
    ) -> None:
        """In one transaction: the counter from `previous` to `last` (when there are invoices), the invoices
        and their records, the batch's row errors, the batch marked done (condition: not yet) and the
        import's counts. ConcurrentUpdate on any race."""
        ...

    def complete(self, record: InvoiceImport, at: datetime, records: list[Record]) -> bool:
        """Mark the import completed once (all batches done); False if another run did or it is not done."""
        ...


class ImportQueue(Protocol):
    def enqueue(self, tenant_id: str, import_id: str, batches: list[int]) -> None:
        """One message per batch number, for the import worker."""
        ...
