"""Webhook endpoint records: where a tenant's events go, which ones, and the secrets that sign them."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.events.catalog import matches
from shared.events.records import StoredEvent
from shared.outbox.records import iso

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)
SECRET_BYTES = 32  # Standard Webhooks: whsec_ + base64 of the key; at least 24 bytes (API.md), we use 32
ROTATION_OVERLAP = timedelta(hours=24)
# Endpoints per tenant (Stripe allows 16 per account): enough for per-invoice subscriptions, bounded so one
# tenant's fan-out per event stays small.
MAX_ENDPOINTS_PER_TENANT = 100


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Opener(Protocol):
    def open(self, endpoint_id: str, sealed: bytes) -> str: ...


@dataclass(frozen=True)
class SigningSecret:
    """One signing secret as stored: sealed (shared.events.ports.SecretSealer) under its endpoint's id.

    `legacy_value` is a secret stored as text before secrets were sealed: it keeps signing, and the
    endpoint's next change or rotation seals it (WebhookEndpointService).
    """

    sealed: bytes
    created_at: datetime
    expires_at: datetime | None = None
    legacy_value: str | None = field(default=None, repr=False)

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def text(self, endpoint_id: str, opener: Opener) -> str:
        return self.legacy_value if self.legacy_value is not None else opener.open(endpoint_id, self.sealed)


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    tenant_id: str
    url: str
    enabled_events: tuple[str, ...]
    resource_id: str | None
    description: str | None
    enabled: bool
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    disabled_reason: str | None = None
    # When the current run of failed deliveries began (None while deliveries succeed).
    failing_since: datetime | None = None

    def live_secrets(self, now: datetime) -> list[SigningSecret]:
        return [s for s in self.secrets if s.live(now)]

    def rotated(self, now: datetime, sealed: bytes) -> WebhookEndpoint:
        """`sealed` (a new secret) beside the live ones; those still without an end stop signing in 24 h."""
        kept = tuple(
            s if s.expires_at is not None else replace(s, expires_at=now + ROTATION_OVERLAP)
            for s in self.secrets
            if s.live(now)
        )
        return replace(
            self,
            secrets=(*kept, SigningSecret(sealed, now)),
            updated_at=now,
            version=self.version + 1,
        )

    @property
    def holds_legacy_secrets(self) -> bool:
        return any(s.legacy_value is not None for s in self.secrets)

    def wants(self, event: StoredEvent) -> bool:
        """An enabled endpoint of the event's tenant, subscribed to its name, and in its resource scope (the
        resource itself, or an event whose data names it: a wallet's events reach its invoice's endpoint)."""
        if (
            not self.enabled
            or event.tenant_id != self.tenant_id
            or not matches(self.enabled_events, event.type)
        ):
            return False
        if self.resource_id is None:
            return True
        scope = self.resource_id
        return scope == event.resource_id or scope in (
            event.data.get("invoice_id"),
            event.data.get("wallet_id"),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "enabled_events": list(self.enabled_events),
            "resource_id": self.resource_id,
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class EndpointPage:
    items: list[WebhookEndpoint]
    next_cursor: str | None
