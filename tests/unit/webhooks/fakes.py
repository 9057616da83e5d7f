"""In-memory ports of webhook handling on top of the funding fakes: the event log shares the store's
records, so an event record committed with a funding is seen exactly as on the table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.funding.ports import ClaimState
from tests.support.events import as_items
from tests.unit.funding.fakes import MemoryFundingStore


@dataclass
class ReleasingStore(MemoryFundingStore):
    """MemoryFundingStore with the FundingRelease port."""

    released: set[tuple[str, str]] = field(default_factory=set)

    def release(self, wallet_id: str, intent_id: str, records: Sequence[dict[str, Any]]) -> bool:
        claim = self.claim_of(wallet_id)
        if wallet_id not in self.wallets or (wallet_id, intent_id) in self.released:
            return False
        if claim.state not in (None, ClaimState.REFUNDED):
            return False
        self.released.add((wallet_id, intent_id))
        self.claims[wallet_id] = replace(claim, state=ClaimState.REFUNDED, refunds=claim.refunds + 1)
        self.records.extend(as_items(records))
        return True


@dataclass
class MemoryEventLog:
    store: MemoryFundingStore

    def seen(self, event_id: str) -> bool:
        return any(r.get("pk") == f"STRIPEEVENT#{event_id}" for r in self.store.records)

    def record(self, record: dict[str, Any]) -> bool:
        if any(r.get("pk") == record["pk"] for r in self.store.records):
            return False
        self.store.records.append(record)
        return True
