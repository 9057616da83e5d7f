"""Payout records: the payout (its approval and status) and its items, stored in chunks of up to
CHUNK_ITEMS, each item with its own state and attempt."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.consumer.records import format_token
from shared.outbox.records import iso

# Items per stored chunk (one table item of ~30 KB) and per provider batch call on Tempo.
CHUNK_ITEMS = 100


class PayoutStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class ItemStatus(StrEnum):
    PENDING = "pending"
    """Held in the payout, not yet paid."""
    PROCESSING = "processing"
    """Sent (or about to be) to the provider under its attempt's key: a rerun sends the very same request."""
    PAID = "paid"
    """Vendor: at the recipient. Payroll: in the employee's claim wallet, waiting to be claimed."""
    CLAIMED = "claimed"
    RETURNED = "returned"
    """Payroll: unclaimed at expiry, back in the treasury."""
    FAILED = "failed"
    """Refused for good; its amount went back to the treasury (retry-failed holds it again)."""


OPEN_ITEMS = (ItemStatus.PENDING, ItemStatus.PROCESSING)
ENDED = (PayoutStatus.COMPLETED, PayoutStatus.COMPLETED_WITH_ERRORS, PayoutStatus.CANCELLED)


@dataclass(frozen=True)
class PayoutItem:
    index: int
    kind: str
    """consumer_id, email or address: how the request named the recipient."""
    to: str
    amount: int
    currency: str
    reference: str
    user_id: str | None = None
    """The consumer paid (vendor, internal) or expected to claim (payroll), when known."""
    wallet_id: str | None = None
    """Vendor: the consumer's wallet. Payroll: the item's claim wallet."""
    status: ItemStatus = ItemStatus.PENDING
    attempt: int = 1
    provider: str | None = None
    provider_tx: str | None = None
    error: str | None = None
    claim_expires_at: str | None = None
    claim_url: str | None = None

    @property
    def external(self) -> bool:
        return self.kind == "address"

    def changed(self, **changes: Any) -> PayoutItem:
        return replace(self, **changes)

    def stored(self) -> dict[str, Any]:
        values = {k: v for k, v in self.__dict__.items() if v is not None}
        values["status"] = self.status.value
        return values

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> PayoutItem:
        given = dict(values)
        for name in ("index", "amount", "attempt"):
            given[name] = int(given[name])
        given["status"] = ItemStatus(given["status"])
        return cls(**given)

    def to_api(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "recipient": {self.kind: self.to},
            "amount": format_token(self.amount),
            "currency": self.currency,
            "reference": self.reference,
            "status": self.status.value,
            "attempt": self.attempt,
            "wallet_id": self.wallet_id,
            "provider": self.provider,
            "transaction_id": self.provider_tx,
            "error": self.error,
            "claim_expires_at": self.claim_expires_at,
            "claim_url": self.claim_url,
        }


@dataclass(frozen=True)
class PayoutChunk:
    payout_id: str
    number: int
    items: tuple[PayoutItem, ...]
    version: int = 0

    def with_items(self, changed: list[PayoutItem]) -> PayoutChunk:
        by_index = {item.index: item for item in changed}
        items = tuple(by_index.get(item.index, item) for item in self.items)
        return replace(self, items=items, version=self.version + 1)


@dataclass(frozen=True)
class Payout:
    id: str
    tenant_id: str
    purpose: str
    reference: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    status: PayoutStatus
    approvals_required: int
    totals: dict[str, int]
    """Token minor units per coin over every item."""
    item_count: int
    chunks: int
    approvals: tuple[str, ...] = ()
    scheduled_for: datetime | None = None
    version: int = 0
    decided_by: str | None = None
    """Who rejected or cancelled it."""
    counts: dict[str, int] = field(default_factory=dict)
    """Items per status as of the last update (the chunks are the truth)."""

    def changed(self, now: datetime, **changes: Any) -> Payout:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    def to_api(self, items: list[PayoutItem] | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": self.id,
            "purpose": self.purpose,
            "reference": self.reference,
            "status": self.status.value,
            "created_by": self.created_by,
            "approvals": list(self.approvals),
            "approvals_required": self.approvals_required,
            "totals": [
                {"currency": coin, "amount": format_token(amount)}
                for coin, amount in sorted(self.totals.items())
            ],
            "item_count": self.item_count,
            "counts": dict(sorted((self.counts if items is None else item_counts(items)).items())),
            "scheduled_for": iso(self.scheduled_for) if self.scheduled_for else None,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if items is not None:
            answer["items"] = [item.to_api() for item in items]
        return answer


def item_counts(items: list[PayoutItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    return counts
