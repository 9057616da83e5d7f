"""Realtime use cases: WebSocket connections, channel subscriptions, fan-out of events and countdown ticks."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.clock import Clock
from shared.errors import (
    DependencyUnavailable,
    Forbidden,
    InvalidState,
    LimitExceeded,
    NotFound,
    Unauthorized,
    ValidationFailed,
    WalletsError,
)
from shared.outbox.publisher import BusEventDetail
from shared.outbox.records import iso
from shared.realtime.channels import Channel, ChannelKind, may_view, parse_channel
from shared.realtime.ports import (
    HEARTBEAT_BUCKETS,
    ROLE_CONSUMER,
    Connection,
    ConnectionStore,
    InvoiceReader,
    Pusher,
    PushOutcome,
    ResourceHistory,
    SubscribeOutcome,
    Subscriber,
    Viewer,
    WalletSnapshot,
    WalletSnapshots,
)
from shared.realtime.resume import Replayer, after_sequence_of, event_message

logger = logging.getLogger(__name__)

# API Gateway closes a WebSocket after 2 hours whatever happens, so nothing of a connection outlives that.
CONNECTION_LIFETIME = timedelta(hours=2)
MAX_SUBSCRIPTIONS = 50
# Long enough to absorb EventBridge and stream redeliveries, short enough to keep the table small.
EVENT_CLAIM_LIFETIME = timedelta(days=1)
MAX_CLIENT_MESSAGE_BYTES = 4096
# Concurrent @connections posts of one heartbeat bucket.
HEARTBEAT_PUSHERS = 16


def server_message(event: str, channel: str | None, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Every server message has the contract's shape, whether or not it concerns a channel."""
    return {"event": event, "channel": channel, "data": dict(data), "ts": iso(now)}


# Statuses whose countdown is over: the tick stops pushing them.
_OVER = frozenset({"destroyed", "expired"})
# Statuses whose countdown shows 0 (as Wallet.remaining_seconds does for the REST reads).
_NO_TIME_LEFT = _OVER | {"destroying"}
# Statuses a past expires_at shows as `expired` (as the REST reads do), before any trigger ran.
_EXPIRABLE = frozenset({"active", "funded"})


def countdown_data(wallet: WalletSnapshot, now: datetime) -> dict[str, Any]:
    expires_at = wallet.expires_at
    if expires_at is None:
        raise InvalidState("this wallet has no countdown")
    remaining = max(0, int((expires_at - now).total_seconds()))
    if wallet.status in _NO_TIME_LEFT:
        # A wallet being or already destroyed has no time left, whatever its expires_at said.
        remaining = 0
    status = "expired" if remaining == 0 and wallet.status in _EXPIRABLE else wallet.status
    return {
        "walletId": wallet.wallet_id,
        "remaining_seconds": remaining,
        "expires_at": iso(expires_at),
        "server_time": iso(now),
        "status": status,
    }


def wallet_state_data(wallet: WalletSnapshot, now: datetime) -> dict[str, Any]:
    return {
        "wallet_id": wallet.wallet_id,
        "invoice_id": wallet.invoice_id,
        "wallet_type": wallet.wallet_type,
        "status": wallet.status,
        "balance": wallet.balance,
        "currency": wallet.currency,
        "expires_at": iso(wallet.expires_at) if wallet.expires_at else None,
        "server_time": iso(now),
    }


@dataclass
class FanOutReport:
    delivered: int = 0
    gone: int = 0
    failed: int = 0
    withheld: int = 0
    # Left to (or already sent by) a resumed subscription's replay.
    replayed: int = 0
    heartbeats: int = 0
    duplicate: bool = False
    gone_connections: set[str] = field(default_factory=set)


class RealtimeService:
    def __init__(
        self,
        connections: ConnectionStore,
        pusher: Pusher,
        wallets: WalletSnapshots,
        invoices: InvoiceReader,
        clock: Clock,
        history: ResourceHistory,
    ) -> None:
        self._connections = connections
        self._pusher = pusher
        self._wallets = wallets
        self._invoices = invoices
        self._clock = clock
        self._replayer = Replayer(history, connections, pusher, clock)

    def connect(self, connection_id: str, viewer: Viewer) -> None:
        now = self._clock.now()
        self._connections.put_connection(Connection(connection_id, viewer, now), now + CONNECTION_LIFETIME)

    def disconnect(self, connection_id: str) -> None:
        self._connections.delete_connection(connection_id)

    def handle_message(self, connection_id: str, body: str | None) -> dict[str, Any]:
        """The reply to one client message; a refused message is answered with an `error` event."""
        channel: str | None = None
        try:
            message = _client_message(body)
            action = message.get("action")
            if action == "ping":
                return server_message("pong", None, {}, self._clock.now())
            if action not in ("subscribe", "unsubscribe"):
                raise ValidationFailed("action must be subscribe, unsubscribe or ping")
            parsed = parse_channel(message.get("channel"))
            channel = parsed.name
            if action == "subscribe":
                return self.subscribe(connection_id, parsed, after_sequence_of(message))
            return self.unsubscribe(connection_id, parsed)
        except WalletsError as exc:
            error = {"code": exc.code, "message": exc.message}
            return server_message("error", channel, error, self._clock.now())

    def subscribe(
        self, connection_id: str, channel: Channel, after_sequence: int | None = None
    ) -> dict[str, Any]:
        """Answer with the channel's current state; with `after_sequence`, the resource's events after it
        are pushed first (shared/realtime/resume.py), so they reach the client before the answer."""
        connection = self._connections.get_connection(connection_id)
        if connection is None:
            raise Unauthorized("this connection is not registered; reconnect")
        viewer = connection.viewer
        reply = self._current_state(viewer, channel)
        channel = channel.for_viewer(viewer)
        resumption = None
        if after_sequence is not None:
            resumption = self._replayer.begin(viewer, channel, after_sequence)
        now = self._clock.now()
        outcome = self._connections.add_subscription(
            Subscriber(connection_id, viewer, resumption.live_after if resumption else None),
            channel.name,
            countdown=channel.kind is ChannelKind.COUNTDOWN,
            limit=MAX_SUBSCRIPTIONS,
            expires_at=now + CONNECTION_LIFETIME,
        )
        if outcome is SubscribeOutcome.LIMIT_REACHED:
            raise LimitExceeded(f"a connection may hold at most {MAX_SUBSCRIPTIONS} subscriptions")
        if outcome is SubscribeOutcome.NO_CONNECTION:
            raise Unauthorized("this connection is not registered; reconnect")
        if resumption is None:
            return reply
        if outcome is SubscribeOutcome.ALREADY_SUBSCRIBED and not self._connections.resume_subscription(
            connection_id, channel.name, resumption.live_after
        ):
            raise Unauthorized("this connection is not registered; reconnect")
        report = self._replayer.replay(connection_id, viewer, channel, resumption)
        if report.gone:
            self._forget(connection_id)
        logger.info(
            "resumed %s after %d: %d replayed through %d, %d left to live, %d failed",
            channel.name,
            after_sequence,
            report.replayed,
            report.through,
            report.skipped_by_live,
            report.failed,
        )
        return reply

    def unsubscribe(self, connection_id: str, channel: Channel) -> dict[str, Any]:
        stored = channel
        if channel.kind is ChannelKind.CONSUMER:
            connection = self._connections.get_connection(connection_id)
            if connection is None:
                raise Unauthorized("this connection is not registered; reconnect")
            stored = channel.for_viewer(connection.viewer)
        removed = self._connections.remove_subscription(connection_id, stored.name)
        return server_message("unsubscribed", channel.public_name, {"removed": removed}, self._clock.now())

    def _current_state(self, viewer: Viewer, channel: Channel) -> dict[str, Any]:
        """The snapshot a subscription is answered with; refuses what the viewer may not follow."""
        now = self._clock.now()
        if channel.kind is ChannelKind.ADMIN:
            if not viewer.is_admin or viewer.link_invoice_id is not None:
                raise Forbidden("the admin channel needs the admin role")
            return server_message("subscribed", channel.name, {"channel": channel.name}, now)
        if channel.kind is ChannelKind.CONSUMER:
            # Only one's own: `consumer` names the caller's channel; naming another person's is refused.
            if ROLE_CONSUMER not in viewer.roles or viewer.link_invoice_id is not None:
                raise Forbidden("the consumer channel needs the consumer role")
            if channel.resource_id not in (None, viewer.sub):
                raise Forbidden("a consumer may follow only their own consumer channel")
            return server_message("subscribed", channel.public_name, {"channel": channel.public_name}, now)
        if channel.kind is ChannelKind.PLATFORM:
            if not viewer.is_operator:
                raise Forbidden("the platform channel needs the operator role")
            return server_message("subscribed", channel.name, {"channel": channel.name}, now)
        if channel.kind in (ChannelKind.PAYOUT, ChannelKind.IMPORT):
            # No lookup: a tenant's payout and import events reach its own merchants and admins only (the
            # fan-out's tenant rule, the history's tenant partition), so another tenant's id receives nothing.
            if not viewer.acts_for_tenant:
                raise Forbidden(f"the {channel.kind.value} channel needs the merchant or admin role")
            return server_message("subscribed", channel.name, {"channel": channel.name}, now)
        resource_id = channel.resource_id or ""
        if channel.kind is ChannelKind.INVOICE:
            invoice = self._invoices.get(viewer.tenant_id, resource_id)
            if invoice is None or not may_view(
                viewer, invoice.tenant_id, invoice.customer_id, invoice.invoice_id
            ):
                raise NotFound("invoice not found")
            if invoice.is_draft and not viewer.acts_for_tenant:
                raise NotFound("invoice not found")
            return server_message("invoice:state", channel.name, invoice.public, now)
        wallet = self._wallets.get(resource_id, viewer)
        if wallet is None or not may_view(viewer, wallet.tenant_id, wallet.customer_id, wallet.invoice_id):
            raise NotFound("wallet not found")
        if channel.kind is ChannelKind.COUNTDOWN:
            return server_message("countdown:update", channel.name, countdown_data(wallet, now), now)
        return server_message("wallet:state", channel.name, wallet_state_data(wallet, now), now)

    def fan_out(self, detail: BusEventDetail) -> FanOutReport:
        """Push a bus event to the subscribers of its channels, within the event's tenant only."""
        report = FanOutReport()
        if not self._connections.claim_event(detail.event_id, self._clock.now() + EVENT_CLAIM_LIFETIME):
            report.duplicate = True
            return report
        try:
            self._push_channels(detail, report)
        except Exception:
            # Give the claim back so the bus's retry pushes again: a repeated message beats a lost one.
            self._connections.release_event(detail.event_id)
            raise
        return report

    def _push_channels(self, detail: BusEventDetail, report: FanOutReport) -> None:
        for name in dict.fromkeys(detail.channels):
            try:
                channel = parse_channel(name)
            except ValidationFailed:
                logger.warning("event %s names an unknown channel %r", detail.event_id, name)
                continue
            sequence = detail.sequence if channel.is_about(detail.resource) else None
            message = event_message(detail.event, channel, detail.data, detail.ts, sequence)
            self._push_channel(channel, detail.tenant_id, message, report, sequence)

    def tick(self, scheduled_at: datetime | None = None) -> FanOutReport:
        """The minute tick: `countdown:update` to every followed countdown (a wallet that is gone is skipped),
        and `heartbeat` to the connections of this minute's bucket.

        The bucket comes from the firing's scheduled minute (`scheduled_at`, the rule's `time`), so buckets
        take turns even when an invocation starts late: with HEARTBEAT_BUCKETS = 2 every connection hears a
        heartbeat every 2 minutes, and still within the contract's 5 if one firing is lost.
        """
        report = FanOutReport()
        self._countdowns(report)
        minute = int((scheduled_at or self._clock.now()).timestamp() // 60)
        self._heartbeat(minute % HEARTBEAT_BUCKETS, report)
        return report

    def _countdowns(self, report: FanOutReport) -> None:
        for name in self._connections.countdown_channels():
            channel = parse_channel(name)
            wallet = self._wallets.get(channel.resource_id or "", None)
            if wallet is None or wallet.expires_at is None or wallet.status in _OVER:
                # Gone, persistent, or its countdown ended: `wallet:destroyed` already told its followers.
                continue
            now = self._clock.now()
            message = server_message("countdown:update", channel.name, countdown_data(wallet, now), now)
            self._push_channel(channel, wallet.tenant_id, message, report)

    def _heartbeat(self, bucket: int, report: FanOutReport) -> None:
        """Every connection of the bucket, pushed from a bounded pool: a push is a round trip to API Gateway,
        and a bucket of thousands one after another would outlast the function."""
        message = server_message("heartbeat", None, {}, self._clock.now())
        connections = [
            c for c in self._connections.connections_in(bucket) if c not in report.gone_connections
        ]
        if not connections:
            return
        workers = min(HEARTBEAT_PUSHERS, len(connections))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heartbeat") as pool:
            outcomes = list(pool.map(lambda conn: self._pusher.push(conn, message), connections))
        for connection_id, outcome in zip(connections, outcomes, strict=True):
            if outcome is PushOutcome.DELIVERED:
                report.heartbeats += 1
            else:
                self._count(outcome, connection_id, report)

    def _push_channel(
        self,
        channel: Channel,
        tenant_id: str | None,
        message: Mapping[str, Any],
        report: FanOutReport,
        sequence: int | None = None,
    ) -> None:
        for subscriber in self._connections.subscribers(channel.name):
            if subscriber.connection_id in report.gone_connections:
                continue
            if not _receives(subscriber.viewer, channel, tenant_id):
                report.withheld += 1
                continue
            if not self._replayer.admits(subscriber, channel, sequence):
                report.replayed += 1
                continue
            self._count(
                self._pusher.push(subscriber.connection_id, message), subscriber.connection_id, report
            )

    def _count(self, outcome: PushOutcome, connection_id: str, report: FanOutReport) -> None:
        if outcome is PushOutcome.DELIVERED:
            report.delivered += 1
        elif outcome is PushOutcome.GONE:
            report.gone += 1
            report.gone_connections.add(connection_id)
            self._forget(connection_id)
        else:
            report.failed += 1

    def _forget(self, connection_id: str) -> None:
        """Drop a gone connection; failing to is not worth failing the fan-out (its TTL reaps it)."""
        try:
            self._connections.delete_connection(connection_id)
        except DependencyUnavailable:
            logger.warning("could not delete gone connection %s", connection_id)


def _receives(viewer: Viewer, channel: Channel, tenant_id: str | None) -> bool:
    """Tenant isolation of the fan-out: a connection only ever sees its own tenant's events.

    An event without a tenant is platform-wide (provider switches, reserve reconciliation): it only
    reaches admins on the admin channel and operators on the platform channel, never a tenant-scoped
    channel. The platform channel carries every tenant's platform events, to operators alone.
    """
    if channel.kind is ChannelKind.PLATFORM:
        return viewer.is_operator
    if channel.kind is ChannelKind.ADMIN and not viewer.is_admin:
        return False
    if tenant_id is None:
        return channel.kind is ChannelKind.ADMIN
    if channel.kind is ChannelKind.CONSUMER and channel.resource_id != viewer.sub:
        return False
    return viewer.tenant_id == tenant_id


def _client_message(body: str | None) -> dict[str, Any]:
    if body is None or len(body.encode("utf-8", "surrogatepass")) > MAX_CLIENT_MESSAGE_BYTES:
        raise ValidationFailed("a message is a JSON object of at most 4 KiB")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed("the message is not valid JSON") from exc
    if not isinstance(message, dict):
        raise ValidationFailed("a message is a JSON object")
    return message
