"""KycService over in-memory ports: levels refused, one Stripe session per attempt key, and a rise that a
transient conflict delays but never loses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.auth import Principal
from shared.clock import FixedClock
from shared.consumer.kyc import VERIFIED, KycService, stripe_key
from shared.consumer.ports import SessionOwner, VerificationSession
from shared.consumer.records import Profile, Verification, VerificationStatus
from shared.errors import ConcurrentUpdate, InvalidState, NotFound

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
ALICE = Principal(sub="usr_alice", tenant_id="tenant-a", roles=frozenset({"consumer"}))


class World:
    """Profiles, recorded sessions and Stripe, in memory; `conflicts` makes the next writes lose."""

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {
            "usr_alice": Profile("tenant-a", "usr_alice", "a@x.io", "+14155550101", "wal_1", 1, NOW)
        }
        self.owners: dict[str, SessionOwner] = {}
        self.stripe_keys: list[str] = []
        self.conflicts = 0
        self.racer: Any = None

    # ConsumerService's side, and the ConsumerStore's profile read
    def profile(self, principal_or_tenant: Any, user_id: str | None = None) -> Profile | None:
        if isinstance(principal_or_tenant, Principal):
            found = self.profiles.get(principal_or_tenant.sub)
            if found is None:
                raise NotFound("not onboarded")
            return found
        return self.profiles.get(user_id or "")

    # IdentityVerifier: as Stripe, one session per idempotency key
    def start(self, level: int, metadata: dict[str, str], key: str, return_url: str | None = None) -> Any:
        self.stripe_keys.append(key)
        return VerificationSession(f"vs_{key[-8:]}", f"https://verify/{key[-8:]}", "requires_input", metadata)

    # KycStore
    def _lose(self) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrentUpdate("lost")

    def record_session(self, profile: Profile, verification: Verification, attempt: int) -> None:
        racer, self.racer = self.racer, None
        if racer is not None:
            racer()
        current = self.profiles[profile.user_id]
        if current.kyc_sessions != attempt:
            raise ConcurrentUpdate("another session recorded first")
        self.profiles[profile.user_id] = replace(current, verification=verification, kyc_sessions=attempt + 1)
        self.owners[verification.session_id] = SessionOwner(
            profile.tenant_id, profile.user_id, verification.level, "pending"
        )

    def session_owner(self, session_id: str) -> SessionOwner | None:
        return self.owners.get(session_id)

    def raise_level(self, profile: Profile, verification: Verification, records: list[Any]) -> None:
        self._lose()
        current = self.profiles[profile.user_id]
        if current.kyc_level >= verification.level:
            raise ConcurrentUpdate("not lower")
        self.profiles[profile.user_id] = replace(current, kyc_level=verification.level)

    def mark_session(self, profile: Profile, verification: Verification, records: list[Any]) -> None:
        self._lose()


def service(world: World) -> KycService:
    return KycService(world, world, world, world, FixedClock(NOW))  # type: ignore[arg-type]


def verified_event(session_id: str, level: int = 2) -> dict[str, Any]:
    metadata = {"tenant_id": "tenant-a", "user_id": "usr_alice", "kyc_level": str(level)}
    return {"id": session_id, "status": "verified", "metadata": metadata}


def test_a_level_at_or_below_the_current_one_is_invalid_state() -> None:
    world = World()
    world.profiles["usr_alice"] = replace(world.profiles["usr_alice"], kyc_level=2)
    with pytest.raises(InvalidState):
        service(world).upgrade(ALICE, 2)
    assert world.stripe_keys == []


def test_concurrent_requests_share_one_stripe_session() -> None:
    world = World()
    kyc = service(world)
    # Another request for the same level records its session (same attempt, same key) just before ours.

    def race() -> None:
        profile = world.profiles["usr_alice"]
        session = world.start(2, {}, stripe_key("tenant-a", "usr_alice", 2, 0))
        world.record_session(
            profile, Verification(session.session_id, 2, VerificationStatus.PENDING, session.url, NOW), 0
        )

    world.racer = race
    answer = kyc.upgrade(ALICE, 2)
    assert answer["verification_session_id"] == world.profiles["usr_alice"].verification.session_id  # type: ignore[union-attr]
    assert set(world.stripe_keys) == {stripe_key("tenant-a", "usr_alice", 2, 0)}
    assert len(world.owners) == 1


def test_a_transient_conflict_retries_the_rise() -> None:
    world = World()
    kyc = service(world)
    session_id = kyc.upgrade(ALICE, 2)["verification_session_id"]
    world.conflicts = 2
    assert kyc.apply(VERIFIED, verified_event(session_id), {"pk": "STRIPEEVENT#evt_1"}) == "upgraded"
    assert world.profiles["usr_alice"].kyc_level == 2


def test_a_conflict_that_persists_is_raised_so_stripe_delivers_again() -> None:
    world = World()
    kyc = service(world)
    session_id = kyc.upgrade(ALICE, 2)["verification_session_id"]
    world.conflicts = 99
    with pytest.raises(ConcurrentUpdate):
        kyc.apply(VERIFIED, verified_event(session_id), {"pk": "STRIPEEVENT#evt_1"})
    assert world.profiles["usr_alice"].kyc_level == 1


def test_a_level_reached_meanwhile_refuses_instead_of_starting_another_session() -> None:
    world = World()

    def race() -> None:
        current = world.profiles["usr_alice"]
        world.profiles["usr_alice"] = replace(current, kyc_level=2, kyc_sessions=1)

    world.racer = race
    with pytest.raises(InvalidState):
        service(world).upgrade(ALICE, 2)
    assert len(world.stripe_keys) == 1 and world.owners == {}
