"""KYC upgrades through Stripe Identity.

- `upgrade` starts a VerificationSession for level 2 (a document) or 3 (a document, a matching selfie and an
  id number) and answers its URL; the level does not move. A target at or below the current level is 400
  `invalid_state` (the body is valid, the person's state refuses it). Asking again for the same level while
  its session is still pending answers that session; each new session has its own Stripe idempotency key
  (person, level, attempt number), so a retried or concurrent request never makes a second session.
- `identity.verification_session.verified` (signed, once per event id) raises the level, only for a session
  this system created, whose metadata names the same tenant, person and level as its record, and only
  upwards; the rise, the session's state, the `kyc:upgraded` event and the event record commit together.
- `identity.verification_session.requires_input` leaves the level and records Stripe's `last_error`
  (`code`, `reason`), shown by `GET /limits` under `verification`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from shared.auth import Principal
from shared.clock import Clock
from shared.consumer.ports import ConsumerStore, IdentityVerifier, KycStore, SessionOwner
from shared.consumer.records import KYC_LEVELS, Profile, Verification, VerificationStatus, format_usd
from shared.consumer.service import ConsumerService, consumer_channel
from shared.errors import ConcurrentUpdate, InvalidState
from shared.outbox.records import Resource, domain_event

logger = logging.getLogger(__name__)

VERIFIED = "identity.verification_session.verified"
REQUIRES_INPUT = "identity.verification_session.requires_input"
CANCELED = "identity.verification_session.canceled"
IDENTITY_EVENTS: tuple[str, ...] = (VERIFIED, REQUIRES_INPUT, CANCELED)


def stripe_key(tenant_id: str, user_id: str, level: int, attempt: int) -> str:
    digest = hashlib.sha256(f"kyc\x1f{tenant_id}\x1f{user_id}\x1f{level}\x1f{attempt}".encode()).hexdigest()
    return f"kyc-{digest[:40]}"


class KycService:
    handles: tuple[str, ...] = IDENTITY_EVENTS

    def __init__(
        self,
        consumers: ConsumerService,
        profiles: ConsumerStore,
        store: KycStore,
        identity: IdentityVerifier,
        clock: Clock,
        *,
        return_url: str | None = None,
        attempts: int = 5,
    ) -> None:
        self._attempts = attempts
        self._consumers = consumers
        self._profiles = profiles
        self._store = store
        self._identity = identity
        self._clock = clock
        self._return_url = return_url

    # -- the route ------------------------------------------------------------------------------------
    def upgrade(self, principal: Principal, level: int) -> dict[str, Any]:
        profile = self._consumers.profile(principal)
        if level not in KYC_LEVELS:
            raise InvalidState(f"KYC level {level} does not exist")
        for _ in range(3):
            # Checked on every look: a rise that landed meanwhile refuses rather than start another session.
            if level <= profile.kyc_level:
                raise InvalidState(
                    f"already at KYC level {profile.kyc_level}; an upgrade must ask for a higher level"
                )
            pending = profile.verification
            if (
                pending is not None
                and pending.level == level
                and pending.status is VerificationStatus.PENDING
            ):
                return _answer(pending)
            attempt = profile.kyc_sessions
            session = self._identity.start(
                level,
                {"tenant_id": profile.tenant_id, "user_id": profile.user_id, "kyc_level": str(level)},
                stripe_key(profile.tenant_id, profile.user_id, level, attempt),
                self._return_url,
            )
            verification = Verification(
                session.session_id,
                level,
                VerificationStatus.PENDING,
                session.url,
                self._clock.now().replace(microsecond=0),
            )
            try:
                self._store.record_session(profile, verification, attempt)
            except ConcurrentUpdate:
                # A concurrent or retried request recorded a session first: answer it when it is the same
                # one (same key, same session), else look again.
                profile = self._consumers.profile(principal)
                current = profile.verification
                if current is not None and current.session_id == session.session_id:
                    return _answer(current)
                continue
            return _answer(verification)
        raise ConcurrentUpdate("KYC upgrade requested concurrently; retry")

    # -- Stripe Identity webhooks ---------------------------------------------------------------------
    def apply(self, event_type: str, session: dict[str, Any], record: dict[str, Any]) -> str:
        """The outcome of one verified, first-seen Identity event; `record` commits with its effect.

        A lost condition is read again: when the rise (or the mark) is no longer due the event is ignored;
        when it still is (a concurrent write to the profile) it is tried again, and after a few tries
        errors.ConcurrentUpdate lets Stripe deliver the event again rather than lose it."""
        session_id = str(session.get("id", ""))
        for _ in range(self._attempts):
            owner = self._store.session_owner(session_id) if session_id else None
            if owner is None:
                logger.warning("identity event %s for an unknown session %s", event_type, session_id)
                return "ignored"
            found = session.get("metadata")
            metadata: dict[str, Any] = found if isinstance(found, dict) else {}
            claimed = (metadata.get("tenant_id"), metadata.get("user_id"), metadata.get("kyc_level"))
            if claimed != (owner.tenant_id, owner.user_id, str(owner.level)):
                logger.warning("identity session %s metadata does not match its record", session_id)
                return "ignored"
            profile = self._profiles.profile(owner.tenant_id, owner.user_id)
            if profile is None or owner.status == VerificationStatus.VERIFIED.value:
                return "ignored"
            try:
                if event_type == VERIFIED:
                    return self._verified(session, owner, profile, record)
                return self._not_verified(event_type, session, owner, profile, record)
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate("the consumer's profile kept changing; Stripe will deliver the event again")

    def _verified(
        self, session: dict[str, Any], owner: SessionOwner, profile: Profile, record: dict[str, Any]
    ) -> str:
        level = owner.level
        if session.get("status") != "verified" or level <= profile.kyc_level:
            return "ignored"
        now = self._clock.now()
        verified = Verification(session["id"], level, VerificationStatus.VERIFIED, None, now)
        event = domain_event(
            "kyc:upgraded",
            [consumer_channel(owner.user_id)],
            {
                "tenant_id": owner.tenant_id,
                "user_id": owner.user_id,
                "previous_level": profile.kyc_level,
                "kyc_level": level,
                "daily_limit": format_usd(KYC_LEVELS[level].daily_limit),
                "monthly_limit": format_usd(KYC_LEVELS[level].monthly_limit),
                "verification_session_id": session["id"],
            },
            now,
            resource=Resource("consumer", owner.user_id),
        )
        self._store.raise_level(profile, verified, [{**record, "outcome": "upgraded"}, event])
        return "upgraded"

    def _not_verified(
        self,
        event_type: str,
        session: dict[str, Any],
        owner: SessionOwner,
        profile: Profile,
        record: dict[str, Any],
    ) -> str:
        if event_type == REQUIRES_INPUT:
            if session.get("status") != "requires_input":
                return "ignored"
            status = VerificationStatus.REQUIRES_INPUT
        else:
            status = VerificationStatus.CANCELED
        error = session.get("last_error") if isinstance(session.get("last_error"), dict) else None
        known = profile.verification
        if known is None or known.session_id != session["id"]:
            known = None
        marked = Verification(
            session["id"],
            owner.level,
            status,
            known.url if known else None,
            known.created_at if known else self._clock.now(),
            {"code": str(error.get("code") or ""), "reason": str(error.get("reason") or "")}
            if error
            else None,
        )
        self._store.mark_session(profile, marked, [{**record, "outcome": status.value}])
        return status.value


def _answer(verification: Verification) -> dict[str, Any]:
    return {
        "verification_session_id": verification.session_id,
        "verification_url": verification.url,
        "status": "pending",
        "level": verification.level,
    }
