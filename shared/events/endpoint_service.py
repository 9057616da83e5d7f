"""Webhook endpoint use cases: a merchant or admin creates, reads, changes, deletes its tenant's endpoints
and rotates their signing secrets. The secret is answered once, at creation (or rotation), never again; it
is stored only sealed under its endpoint's id (shared.events.ports.SecretSealer)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.clock import Clock
from shared.errors import ConcurrentUpdate, NotFound, ValidationFailed
from shared.events.endpoints import (
    MAX_ENDPOINTS_PER_TENANT,
    EndpointPage,
    SigningSecret,
    WebhookEndpoint,
    new_secret,
)
from shared.events.ports import EndpointStore, SecretSealer
from shared.events.urls import AddressResolver, UrlRefused, check_url
from shared.ids import new_id
from shared.outbox.records import Record, audit_entry

_ENDPOINT_ID = re.compile(r"we_[0-9a-z]{24}")


class WebhookEndpointService:
    def __init__(
        self,
        store: EndpointStore,
        resolver: AddressResolver,
        clock: Clock,
        sealer: SecretSealer,
        *,
        allow_loopback: bool,
        cap: int = MAX_ENDPOINTS_PER_TENANT,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._resolver = resolver
        self._clock = clock
        self._allow_loopback = allow_loopback
        self._cap = cap

    def create(
        self,
        principal: Principal,
        url: str,
        enabled_events: list[str],
        resource_id: str | None,
        description: str | None,
    ) -> tuple[WebhookEndpoint, str]:
        require_role(principal, MERCHANT, ADMIN)
        self._check(url)
        now = self._clock.now()
        secret = new_secret()
        endpoint_id = new_id("we")
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            tenant_id=principal.tenant_id,
            url=url,
            enabled_events=tuple(enabled_events),
            resource_id=resource_id,
            description=description,
            enabled=True,
            secrets=(SigningSecret(self._sealer.seal(endpoint_id, secret), now),),
            created_at=now,
            updated_at=now,
        )
        self._store.create(endpoint, self._cap, self._audit(principal, endpoint, "webhook_endpoint.created"))
        return endpoint, secret

    def page(self, principal: Principal, limit: int, cursor: str | None) -> EndpointPage:
        require_role(principal, MERCHANT, ADMIN)
        return self._store.page(principal.tenant_id, limit, cursor)

    def get(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        require_role(principal, MERCHANT, ADMIN)
        endpoint = (
            self._store.get(principal.tenant_id, endpoint_id) if _ENDPOINT_ID.fullmatch(endpoint_id) else None
        )
        if endpoint is None:
            raise NotFound("webhook endpoint not found")
        return endpoint

    def update(self, principal: Principal, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint:
        """PATCH `url`, `enabled`, `enabled_events`; re-enabling clears the failure run that disabled it."""
        if "url" in changes:
            self._check(changes["url"])
        for _ in range(3):
            endpoint = self.get(principal, endpoint_id)
            fields: dict[str, Any] = {"updated_at": self._clock.now(), "version": endpoint.version + 1}
            if "url" in changes:
                fields["url"] = changes["url"]
            if "enabled_events" in changes:
                fields["enabled_events"] = tuple(changes["enabled_events"])
            if "enabled" in changes:
                fields["enabled"] = bool(changes["enabled"])
                if fields["enabled"]:
                    fields |= {"disabled_reason": None, "failing_since": None}
                else:
                    fields["disabled_reason"] = "disabled by the merchant"
            updated = self._sealed(replace(endpoint, **fields))
            try:
                self._store.update(
                    updated, endpoint.version, self._audit(principal, updated, "webhook_endpoint.updated")
                )
            except ConcurrentUpdate:
                continue
            return updated
        raise ConcurrentUpdate("the endpoint kept changing; retry")

    def delete(self, principal: Principal, endpoint_id: str) -> None:
        endpoint = self.get(principal, endpoint_id)
        self._store.delete(endpoint, self._audit(principal, endpoint, "webhook_endpoint.deleted"))

    def rotate_secret(self, principal: Principal, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
        for _ in range(3):
            endpoint = self.get(principal, endpoint_id)
            secret = new_secret()
            updated = self._sealed(
                endpoint.rotated(self._clock.now(), self._sealer.seal(endpoint.id, secret))
            )
            try:
                self._store.update(
                    updated,
                    endpoint.version,
                    self._audit(principal, updated, "webhook_endpoint.secret_rotated"),
                )
            except ConcurrentUpdate:
                continue
            return updated, secret
        raise ConcurrentUpdate("the endpoint kept changing; retry")

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        """A secret this service answers (at creation, rotation, and their idempotent replays, whose records
        hold it sealed as the endpoint does)."""
        return self._sealer.open(endpoint_id, sealed)

    def _sealed(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        """The endpoint with any secret stored as text before sealing existed sealed now."""
        if not endpoint.holds_legacy_secrets:
            return endpoint
        return replace(
            endpoint,
            secrets=tuple(
                s
                if s.legacy_value is None
                else SigningSecret(self._sealer.seal(endpoint.id, s.legacy_value), s.created_at, s.expires_at)
                for s in endpoint.secrets
            ),
        )

    def _check(self, url: str) -> None:
        try:
            check_url(url, self._resolver, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            raise ValidationFailed(
                f"url {exc}", [{"field": "url", "message": str(exc), "type": "value_error"}]
            ) from exc

    def _audit(self, principal: Principal, endpoint: WebhookEndpoint, action: str) -> list[Record]:
        changes = {
            "url": endpoint.url,
            "enabled": endpoint.enabled,
            "enabled_events": list(endpoint.enabled_events),
        }
        return [
            audit_entry(endpoint.id, action, principal.sub, endpoint.tenant_id, self._clock.now(), changes)
        ]
