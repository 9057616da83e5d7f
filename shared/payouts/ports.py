"""What the payout service depends on: its records on the table, and a timer for `scheduled_for`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.outbox.records import Record
from shared.payouts.records import Payout, PayoutChunk


class ReferenceTaken(Exception):
    """A payout with this reference was created within 30 days: `payout_id` is that one."""

    def __init__(self, payout_id: str) -> None:
        super().__init__(payout_id)
        self.payout_id = payout_id


class PayoutStore(Protocol):
    """Payouts and their item chunks. Changes are TransactWriteItems operations (to commit with a journal
    through `LedgerStore.post`, or alone with `write`), each conditioned on the version read."""

    def create(
        self, payout: Payout, chunks: Sequence[PayoutChunk], reference_until: datetime, records: list[Record]
    ) -> None:
        """Chunks first (unreferenced until the payout commits), then the payout, its reference claim and
        `records` in one transaction; ReferenceTaken when the reference is live."""
        ...

    def get(self, payout_id: str) -> Payout | None:
        """Strongly consistent."""
        ...

    def chunks(self, payout_id: str) -> list[PayoutChunk]:
        """Every chunk, in order, strongly consistent."""
        ...

    def chunk(self, payout_id: str, number: int) -> PayoutChunk | None: ...

    def claim_marker(self, wallet_id: str) -> tuple[str, int, int] | None:
        """The payout, chunk number and item index a payroll claim wallet was made for."""
        ...

    def claim_marker_record(self, wallet_id: str, payout_id: str, chunk: int, index: int) -> Record:
        """The marker committed with a claim wallet's creation (claim_marker reads it)."""
        ...

    def approvals_required(self, tenant_id: str) -> int:
        """The tenant's approval policy (1 unless the tenant set more)."""
        ...

    def payout_change(self, before: Payout, after: Payout) -> Any: ...

    def chunk_change(self, before: PayoutChunk, after: PayoutChunk) -> Any: ...

    def records(self, records: Sequence[Record]) -> list[Any]: ...

    def write(self, operations: Sequence[Any]) -> None:
        """Commit operations with no journal (errors.ConcurrentUpdate when a condition failed)."""
        ...


class PayoutTimer(Protocol):
    def schedule(self, payout_id: str, at: datetime) -> None:
        """Run the payout's processing at `at` (one `at()` schedule per payout; creating it again is a
        no-op)."""
        ...
