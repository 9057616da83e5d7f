"""The sweeper's own rules, with fakes of its ports: each due claim goes to the path that opened it, one that
cannot finish stays open without holding the others, a bank payment still processing is looked at later,
and the report gives the count and the oldest one's age."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import FixedClock
from shared.errors import ProviderUnavailable
from shared.sweeper.ports import PROCESSING_RECHECK, ClaimKind, DueClaim
from shared.sweeper.service import ClaimSweeper

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class MemoryIndex:
    claims: list[DueClaim] = field(default_factory=list)
    settled: list[DueClaim] = field(default_factory=list)
    postponed: list[tuple[DueClaim, datetime]] = field(default_factory=list)

    def due(self, now: datetime, limit: int) -> list[DueClaim]:
        due = sorted((c for c in self.claims if c.due_at <= now), key=lambda c: c.due_at)
        return due[:limit]

    def settle(self, claim: DueClaim) -> None:
        self.claims.remove(claim)
        self.settled.append(claim)

    def postpone(self, claim: DueClaim, until: datetime) -> None:
        self.postponed.append((claim, until))


@dataclass
class Outcome:
    result: str


@dataclass
class Paths:
    """The funding use cases, destruction and the release, recording what they were asked."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    processing: str = "funded"

    def _call(self, *call: str) -> None:
        self.calls.append(call)
        if call[1] in self.failing:
            raise ProviderUnavailable("the provider is still down")

    def finish_claim(self, wallet_id: str) -> str:
        self._call("finish_claim", wallet_id)
        return "funded"

    def finish_refund(self, wallet_id: str, intent_id: str) -> str:
        self._call("finish_refund", wallet_id, intent_id)
        return "refunded"

    def settle_processing(self, wallet_id: str, intent_id: str) -> str:
        self._call("settle_processing", wallet_id, intent_id)
        return self.processing

    def destroy(self, wallet_id: str, trigger: str) -> Any:
        self._call("destroy", wallet_id, trigger)
        return Outcome("destroyed")

    def release(self, wallet_id: str, intent_id: str, records: Any) -> bool:
        self.calls.append(("release", wallet_id, intent_id))
        return True

    def finish_in_flight(self, wallet_id: str) -> str:
        self._call("finish_in_flight", wallet_id)
        return "refunded"

    def finish_intent(self, wallet_id: str, token: str) -> str:
        self._call("finish_intent", wallet_id, token)
        return "card_cancelled"

    def finish_cancellation(self, wallet_id: str, generation: int) -> str:
        self._call("finish_cancellation", wallet_id, str(generation))
        return "card_cancelled"


def claim(kind: ClaimKind, wallet_id: str, minutes_late: float, intent_id: str | None = None) -> DueClaim:
    due_at = NOW - timedelta(minutes=minutes_late)
    return DueClaim(kind, wallet_id, due_at, intent_id, f"{due_at.isoformat()}|{wallet_id}|{kind}")


def sweeper(index: MemoryIndex, paths: Paths) -> ClaimSweeper:
    return ClaimSweeper(index, paths, paths, paths, FixedClock(NOW), paths, paths)


def test_each_kind_is_finished_by_the_path_that_opened_it() -> None:
    index = MemoryIndex(
        [
            claim(ClaimKind.FUNDING, "wal_a", 1),
            claim(ClaimKind.FUNDING_REFUND, "wal_b", 2, "pi_b"),
            claim(ClaimKind.PAYMENT_PROCESSING, "wal_c", 3, "pi_c"),
            claim(ClaimKind.DESTRUCTION, "wal_d", 4),
        ]
    )
    paths = Paths()
    report = sweeper(index, paths).sweep()
    assert sorted(paths.calls) == [
        ("destroy", "wal_d", "sweep"),
        ("finish_claim", "wal_a"),
        ("finish_refund", "wal_b", "pi_b"),
        ("settle_processing", "wal_c", "pi_c"),
    ]
    assert (report.due, report.oldest_age_seconds, report.left_open) == (4, 240.0, 0)
    assert dict(report.outcomes) == {"funded": 2, "refunded": 1, "destroyed": 1}
    assert index.claims == []


def test_refunds_card_intents_and_card_cancellations_go_to_their_own_paths() -> None:
    intent = claim(ClaimKind.CARD_INTENT, "wal_e", 1)
    cancel = DueClaim(
        ClaimKind.CARD_CANCEL, "wal_f", NOW, None, "t|WALLET#wal_f|CARDCANCEL#000002", generation=2
    )
    index = MemoryIndex([claim(ClaimKind.WALLET_REFUND, "wal_g", 2, "pi_g"), intent, cancel])
    paths = Paths()
    report = sweeper(index, paths).sweep()
    assert sorted(paths.calls) == [
        ("finish_cancellation", "wal_f", "2"),
        ("finish_in_flight", "wal_g"),
        ("finish_intent", "wal_e", intent.token),
    ]
    assert dict(report.outcomes) == {"refunded": 1, "card_cancelled": 2}
    assert index.claims == []


def test_a_claim_before_its_deadline_is_left_to_its_own_path() -> None:
    index = MemoryIndex([claim(ClaimKind.FUNDING, "wal_a", -1)])
    paths = Paths()
    report = sweeper(index, paths).sweep()
    assert (report.due, report.oldest_age_seconds, paths.calls) == (0, 0.0, [])
    assert len(index.claims) == 1


def test_one_claim_that_cannot_finish_stays_open_and_holds_no_other() -> None:
    index = MemoryIndex([claim(ClaimKind.FUNDING, "wal_down", 90), claim(ClaimKind.FUNDING, "wal_ok", 5)])
    paths = Paths(failing={"wal_down"})
    report = sweeper(index, paths).sweep()
    assert dict(report.outcomes) == {"failed": 1, "funded": 1}
    assert report.left_open == 1 and report.oldest_age_seconds == 90 * 60
    assert [c.wallet_id for c in index.claims] == ["wal_down"]


def test_a_bank_payment_still_processing_is_looked_at_again_later() -> None:
    processing = claim(ClaimKind.PAYMENT_PROCESSING, "wal_c", 1, "pi_c")
    index = MemoryIndex([processing])
    report = sweeper(index, Paths(processing="processing")).sweep()
    assert dict(report.outcomes) == {"postponed": 1}
    assert index.postponed == [(processing, NOW + PROCESSING_RECHECK)]
    assert index.settled == []


def test_a_failed_bank_payment_releases_the_wallet() -> None:
    index = MemoryIndex([claim(ClaimKind.PAYMENT_PROCESSING, "wal_c", 1, "pi_c")])
    paths = Paths(processing="failed")
    report = sweeper(index, paths).sweep()
    assert ("release", "wal_c", "pi_c") in paths.calls
    assert dict(report.outcomes) == {"released": 1} and index.claims == []


@dataclass
class ConsumerRecords:
    """A consumer capability's `finish`, recording what it was asked; `failing` ids stay unfinished."""

    name: str
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def finish(self, tenant_id: str, user_id: str, record_id: str) -> str:
        self.calls.append((self.name, tenant_id, user_id, record_id))
        if record_id in self.failing:
            raise ProviderUnavailable("the provider is still down")
        return "completed"


def test_consumer_money_batches_and_swaps_go_to_their_own_capability_by_reference() -> None:
    def of(kind: ClaimKind, record_id: str, minutes_late: float) -> DueClaim:
        base = claim(kind, "wal_person", minutes_late)
        return DueClaim(kind, base.wallet_id, base.due_at, None, base.token, f"ten|usr_a|{record_id}")

    index = MemoryIndex(
        [
            of(ClaimKind.CONSUMER_MONEY, "dep_1", 3),
            of(ClaimKind.CONSUMER_BATCH, "bat_1", 2),
            of(ClaimKind.CONSUMER_SWAP, "swp_1", 1),
        ]
    )
    money, batches, swaps = ConsumerRecords("money"), ConsumerRecords("batches"), ConsumerRecords("swaps")
    batches.failing.add("bat_1")
    paths = Paths()
    consumer = {
        ClaimKind.CONSUMER_MONEY: money,
        ClaimKind.CONSUMER_BATCH: batches,
        ClaimKind.CONSUMER_SWAP: swaps,
    }
    report = ClaimSweeper(
        index, paths, paths, paths, FixedClock(NOW), paths, paths, consumer=consumer
    ).sweep()
    assert money.calls == [("money", "ten", "usr_a", "dep_1")]
    assert batches.calls == [("batches", "ten", "usr_a", "bat_1")]
    assert swaps.calls == [("swaps", "ten", "usr_a", "swp_1")]
    # The batch whose provider is still down stays in the index; the others leave it.
    assert [c.kind for c in index.claims] == [ClaimKind.CONSUMER_BATCH]
    assert report.outcomes == {"completed": 2, "failed": 1} and report.left_open == 1
