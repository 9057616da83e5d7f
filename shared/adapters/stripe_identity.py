"""The identity-verifier port on Stripe Identity VerificationSessions (the official SDK)."""

from __future__ import annotations

from typing import Any

import stripe

from shared.adapters.stripe_client import metadata_of, stripe_errors
from shared.consumer.ports import VerificationSession


def session_options(level: int) -> dict[str, Any]:
    """What each level checks: a document for 2; a document, a matching selfie and an id number for 3."""
    if level == 2:
        return {"document": {}}
    if level == 3:
        return {"document": {"require_matching_selfie": True, "require_id_number": True}}
    raise ValueError(f"no identity check for KYC level {level}")


class StripeIdentityVerifier:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def start(
        self, level: int, metadata: dict[str, str], idempotency_key: str, return_url: str | None = None
    ) -> VerificationSession:
        params: dict[str, Any] = {"type": "document", "metadata": metadata}
        options = session_options(level)
        if options["document"]:
            params["options"] = options
        if return_url:
            params["return_url"] = return_url
        with stripe_errors("create verification session"):
            session = self._client.v1.identity.verification_sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        return VerificationSession(
            session_id=session.id,
            url=session.url,
            status=session.status,
            metadata=metadata_of(session.metadata),
        )
