"""Webhook delivery: each event to each endpoint of its tenant that wants it, signed per Standard Webhooks
1.0, retried on the contract's schedule by durable timers, logged, and redelivered on request.

Order of one attempt: the retry timer is set first (a little ahead), then the attempt is recorded as made,
then the POST, then its outcome. A crash anywhere in between leaves the timer to try again, so a delivery is
at least once and never silently dropped; receivers dedupe on `webhook-id` (the event id, on every retry and
every redelivery).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from shared.auth import ADMIN, MERCHANT, Principal, require_role
from shared.clock import Clock, ScaledClock
from shared.errors import ConcurrentUpdate, NotFound, ValidationFailed
from shared.events.deliveries import (
    DISABLE_AFTER,
    IN_FLIGHT_GUARD,
    MAX_RETRY_AFTER,
    SEND_TIMEOUT,
    Delivery,
    DeliveryPage,
    DeliveryState,
    SendResult,
    delivery_id_for,
    next_delay,
)
from shared.events.endpoints import WebhookEndpoint
from shared.events.ports import (
    DeliveryStore,
    EndpointStore,
    EventHistory,
    RetryTimer,
    SecretSealer,
    WebhookSender,
)
from shared.events.records import EventQuery, StoredEvent
from shared.events.signing import headers, payload
from shared.events.urls import AddressResolver, UrlRefused, check_url
from shared.ids import new_id
from shared.outbox.records import Record, Resource, domain_event

REDELIVERY_WINDOW = timedelta(days=30)
# Attempts of one event's deliveries that run at once (a tenant has at most 100 endpoints; each send is
# bounded by SEND_TIMEOUT, and one past the function's time is left to its in-flight timer).
PARALLEL_ATTEMPTS = 8
DISABLED_EVENT = "webhook_endpoint.disabled"


class WebhookDeliveryService:
    def __init__(
        self,
        endpoints: EndpointStore,
        deliveries: DeliveryStore,
        history: EventHistory,
        sender: WebhookSender,
        timer: RetryTimer,
        resolver: AddressResolver,
        clock: Clock,
        sealer: SecretSealer,
        *,
        allow_loopback: bool,
        wall_clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._history = history
        self._sender = sender
        self._timer = timer
        self._resolver = resolver
        self._clock = clock
        self._sealer = sealer
        self._allow_loopback = allow_loopback
        # `webhook-timestamp` is checked by receivers against their own clock (replay protection): it is
        # the real time of the send, even where the domain clock runs faster (the local runtime's speed).
        self._wall_clock = wall_clock or ScaledClock()
        self._rng = rng or random.Random()  # noqa: S311 (retry jitter)

    # -- fan-out and attempts --------------------------------------------------------------------------
    def fan_out(self, event: StoredEvent) -> list[Delivery]:
        """Start a delivery of `event` to each endpoint that wants it; a repeated call starts none twice."""
        if event.tenant_id is None:
            return []
        created = []
        for endpoint in self._endpoints.of_tenant(event.tenant_id):
            if not endpoint.wants(event):
                continue
            delivery = self._new(endpoint, event, delivery_id_for(event.id, endpoint.id), None)
            if self._deliveries.create(delivery):
                # Each has its timer before any is tried: a slow endpoint that runs this invocation out of
                # time leaves the rest to their timers instead of to nothing.
                self._timer.schedule(delivery.id, delivery.created_at + IN_FLIGHT_GUARD)
                created.append(delivery)
        if len(created) <= 1:
            return [self.attempt(delivery.id) for delivery in created]
        # Side by side: one endpoint hanging for its 15 s delays none of the others. Each attempt touches only
        # its own delivery and endpoint items; an attempt that raises fails the invocation (the bus retries
        # it; the timers set above try whatever did not finish).
        workers = min(PARALLEL_ATTEMPTS, len(created))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook-attempt") as pool:
            return list(pool.map(lambda delivery: self.attempt(delivery.id), created))

    def attempt(self, delivery_id: str) -> Delivery:
        """One attempt of a pending delivery (a timer's or the fan-out's); anything else is left as it is."""
        delivery = self._deliveries.get(delivery_id)
        if delivery is None:
            raise NotFound("delivery not found")
        if delivery.state is not DeliveryState.PENDING:
            return delivery
        now = self._clock.now()
        endpoint = self._endpoints.get(delivery.tenant_id, delivery.endpoint_id)
        event = self._history.get(delivery.tenant_id, delivery.event_id)
        if endpoint is None or not endpoint.enabled or event is None:
            reason = "event expired" if event is None else "endpoint deleted or disabled"
            return self._finish(delivery, DeliveryState.ABANDONED, now, error=reason)
        self._timer.schedule(delivery.id, now + IN_FLIGHT_GUARD)
        started = replace(
            delivery,
            attempt=delivery.attempt + 1,
            next_attempt_at=now + IN_FLIGHT_GUARD,
            updated_at=now,
            version=delivery.version + 1,
        )
        self._deliveries.save(started, delivery.version)
        result = self._send(endpoint, event, now)
        return self._record(started, endpoint, result)

    def _send(self, endpoint: WebhookEndpoint, event: StoredEvent, now: datetime) -> SendResult:
        try:
            # Again at send time: a host that now resolves somewhere private (DNS rebinding) gets nothing.
            check_url(endpoint.url, self._resolver, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            return SendResult(None, 0, error=f"url refused: {exc}")
        body = payload(event.type, event.created_at, event.data)
        secrets = [s.text(endpoint.id, self._sealer) for s in endpoint.live_secrets(now)]
        signed = headers(secrets, event.id, self._wall_clock.now(), body)
        return self._sender.send(endpoint.url, signed, body, SEND_TIMEOUT)

    def _record(self, delivery: Delivery, endpoint: WebhookEndpoint, result: SendResult) -> Delivery:
        now = self._clock.now()
        if result.succeeded:
            self._mark_endpoint(endpoint, failing=False, now=now)
            return self._finish(delivery, DeliveryState.SUCCEEDED, now, result)
        if result.status_code == 410:
            self._mark_endpoint(endpoint, failing=True, now=now, gone=True)
            return self._finish(delivery, DeliveryState.ABANDONED, now, result)
        disabled = self._mark_endpoint(endpoint, failing=True, now=now)
        delay = next_delay(delivery.attempt, self._rng)
        if disabled or delay is None:
            return self._finish(delivery, DeliveryState.FAILED, now, result)
        if result.status_code in (429, 503) and result.retry_after is not None:
            delay = max(delay, min(result.retry_after, MAX_RETRY_AFTER))
        at = now + delay
        self._timer.schedule(delivery.id, at)
        failed = replace(
            delivery,
            next_attempt_at=at,
            updated_at=now,
            version=delivery.version + 1,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
        )
        self._deliveries.save(failed, delivery.version)
        return failed

    def _finish(
        self,
        delivery: Delivery,
        state: DeliveryState,
        now: datetime,
        result: SendResult | None = None,
        error: str | None = None,
    ) -> Delivery:
        done = replace(
            delivery,
            state=state,
            next_attempt_at=None,
            updated_at=now,
            version=delivery.version + 1,
            status_code=result.status_code if result else delivery.status_code,
            duration_ms=result.duration_ms if result else delivery.duration_ms,
            error=result.error if result else error,
        )
        self._deliveries.save(done, delivery.version)
        self._timer.cancel(delivery.id)
        return done

    def _mark_endpoint(
        self, endpoint: WebhookEndpoint, *, failing: bool, now: datetime, gone: bool = False
    ) -> bool:
        """Track the endpoint's failure run; disable it on 410 or after 5 days of failing (True then)."""
        for _ in range(3):
            current = self._endpoints.get(endpoint.tenant_id, endpoint.id)
            if current is None or not current.enabled:
                return current is not None
            records: list[Record] = []
            if not failing:
                if current.failing_since is None:
                    return False
                updated = replace(current, failing_since=None)
            else:
                since = current.failing_since or now
                if not gone and now - since < DISABLE_AFTER:
                    if current.failing_since is not None:
                        return False
                    updated = replace(current, failing_since=since)
                else:
                    reason = "the endpoint answered 410 Gone" if gone else "deliveries failed for 5 days"
                    updated = replace(current, enabled=False, disabled_reason=reason, failing_since=since)
                    records = self._disabled_event(updated, now)
            updated = replace(updated, updated_at=now, version=current.version + 1)
            try:
                self._deliveries.endpoint_health(updated, current.version, records)
            except ConcurrentUpdate:
                continue
            return not updated.enabled
        return False

    @staticmethod
    def _disabled_event(endpoint: WebhookEndpoint, now: datetime) -> list[Record]:
        data = {
            "tenant_id": endpoint.tenant_id,
            "webhook_endpoint_id": endpoint.id,
            "url": endpoint.url,
            "reason": endpoint.disabled_reason,
        }
        resource = Resource("webhook_endpoint", endpoint.id)
        return [domain_event(DISABLED_EVENT, ["admin"], data, now, resource=resource)]

    def history_event(self, tenant_id: str, event_id: str) -> StoredEvent | None:
        """The stored event a bus event names (the fan-out reads the history, the one source of truth)."""
        return self._history.get(tenant_id, event_id)

    # -- the log and redelivery ------------------------------------------------------------------------
    def deliveries(
        self, principal: Principal, endpoint_id: str, limit: int, cursor: str | None
    ) -> DeliveryPage:
        endpoint = self._own_endpoint(principal, endpoint_id)
        return self._deliveries.page(endpoint.id, limit, cursor)

    def redeliver(self, principal: Principal, delivery_id: str) -> Delivery:
        """The same event to the same endpoint again, as a new delivery naming the original."""
        require_role(principal, MERCHANT, ADMIN)
        original = self._deliveries.get(delivery_id) if delivery_id.startswith("whd_") else None
        if original is None or original.tenant_id != principal.tenant_id:
            raise NotFound("delivery not found")
        endpoint = self._own_endpoint(principal, original.endpoint_id)
        event = self._history.get(principal.tenant_id, original.event_id)
        if event is None:
            raise NotFound("the delivery's event is past its 90 days")
        delivery = self._new(endpoint, event, new_id("whd"), original.id)
        self._deliveries.create(delivery)
        return self.attempt(delivery.id)

    def redeliver_range(
        self, principal: Principal, endpoint_id: str, since: datetime, until: datetime, limit: int = 1000
    ) -> list[Delivery]:
        """Every event of `[since, until)` the endpoint wants, as new deliveries run by timers at once."""
        endpoint = self._own_endpoint(principal, endpoint_id)
        now = self._clock.now()
        if since >= until:
            raise ValidationFailed("since must be before until", [_field("until", "must be after since")])
        if until - since > REDELIVERY_WINDOW:
            raise ValidationFailed("a redelivery spans at most 30 days", [_field("until", "at most 30 days")])
        created: list[Delivery] = []
        cursor = None
        while len(created) < limit:
            query = EventQuery(principal.tenant_id, None, None, since, until, 100, cursor)
            page = self._history.page(query)
            for event in page.items:
                if endpoint.wants(event) and len(created) < limit:
                    delivery = self._new(endpoint, event, new_id("whd"), None)
                    self._deliveries.create(delivery)
                    self._timer.schedule(delivery.id, now)
                    created.append(delivery)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return created

    def _own_endpoint(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        require_role(principal, MERCHANT, ADMIN)
        endpoint = (
            self._endpoints.get(principal.tenant_id, endpoint_id) if endpoint_id.startswith("we_") else None
        )
        if endpoint is None:
            raise NotFound("webhook endpoint not found")
        return endpoint

    def _new(
        self, endpoint: WebhookEndpoint, event: StoredEvent, delivery_id: str, original: str | None
    ) -> Delivery:
        now = self._clock.now()
        return Delivery(
            id=delivery_id,
            endpoint_id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            event_id=event.id,
            event_type=event.type,
            state=DeliveryState.PENDING,
            attempt=0,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            original_delivery_id=original,
        )


def _field(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message, "type": "value_error"}
