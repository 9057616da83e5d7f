"""WebSocket resume: `subscribe` with `after_sequence` replays the resource's missed events from the history,
then live events follow, none lost and none sent twice across the seam.

The seam (docs/DESIGN.md, "WebSocket resume"). Sequences are gap-free per resource and assigned in the
transaction of the state change, and the live fan-out reads a channel's subscribers only after the event
committed. So, for a subscription resumed after `a`:

1. `m0` = the resource's last sequence (a consistent read), before the subscription is stored;
2. the subscription is stored with `live_after = max(a, m0)`: the fan-out leaves every event up to it to
   the replay. An event up to `m0` committed before step 1, so the history holds it (the replay waits for
   the index to show every owed sequence);
3. `m1` = the last sequence again, after the subscription is stored. An event above `m1` committed after
   step 2, so its fan-out finds the subscription (the replay never sends it);
4. the replay sends `(a, m1]`: up to `m0` directly, the seam `(m0, m1]` only after winning a per-connection
   claim of that sequence, which the fan-out also takes for those events; then it records
   `replay_through = m1`, after which the fan-out sends events above it without claiming.

Each event is therefore sent exactly once (a failed push is counted, as on the live path, not retried).
A live event above `m1` may overtake the tail of a long replay; every message about the channel's own
resource carries `sequence`, so a client orders by it and resumes from the highest it has seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.clock import Clock
from shared.errors import LimitExceeded, ValidationFailed
from shared.events.records import StoredEvent
from shared.realtime.channels import Channel
from shared.realtime.ports import (
    ConnectionStore,
    Pusher,
    PushOutcome,
    ResourceHistory,
    Subscriber,
    Viewer,
)

logger = logging.getLogger(__name__)

# Pushed one by one inside the subscribe route (API Gateway gives a route 29 s): a client further behind
# reads GET /api/v1/events?resource_id= first and resumes from a later sequence.
MAX_REPLAY = 500
SEAM_CLAIM_LIFETIME = timedelta(hours=2)


def after_sequence_of(message: dict[str, Any]) -> int | None:
    """The message's `after_sequence` (absent: None); anything but an integer >= 0 is refused."""
    if "after_sequence" not in message:
        return None
    value = message["after_sequence"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(
            "after_sequence must be an integer >= 0",
            [{"field": "after_sequence", "message": "an integer >= 0", "type": "value_error"}],
        )
    return value


def event_message(
    name: str, channel: Channel, data: dict[str, Any], ts: str, sequence: int | None
) -> dict[str, Any]:
    """A server message about an event: the contract's shape, with `sequence` when the event is one of
    the channel's own resource's (the number a client resumes from)."""
    message: dict[str, Any] = {"event": name, "channel": channel.public_name, "data": data, "ts": ts}
    if sequence is not None:
        message["sequence"] = sequence
    return message


@dataclass(frozen=True)
class Resumption:
    """A resume in progress: where the client was, and where the fan-out's share begins."""

    after: int
    live_after: int


@dataclass
class ReplayReport:
    replayed: int = 0
    through: int = 0
    skipped_by_live: int = 0
    failed: int = 0
    gone: bool = False


class Replayer:
    """Steps 1, 3 and 4 of the seam above; the service stores the subscription (step 2) in between."""

    def __init__(self, history: ResourceHistory, connections: ConnectionStore, pusher: Pusher, clock: Clock):
        self._history = history
        self._connections = connections
        self._pusher = pusher
        self._clock = clock

    def begin(self, viewer: Viewer, channel: Channel, after: int) -> Resumption:
        if channel.resource_type is None or channel.resource_id is None:
            raise ValidationFailed(
                "after_sequence resumes channels of one resource: wallet, countdown, invoice, payout, import",
                [{"field": "after_sequence", "message": "not on this channel", "type": "value_error"}],
            )
        latest = self._history.latest_sequence(viewer.tenant_id, channel.resource_type, channel.resource_id)
        if latest - after > MAX_REPLAY:
            raise LimitExceeded(
                f"{latest - after} events to replay, at most {MAX_REPLAY} on a socket: read them with "
                f"GET /api/v1/events?resource_id={channel.resource_id} and resume from a later sequence",
                [
                    {
                        "field": "after_sequence",
                        "message": f"at most {MAX_REPLAY} behind",
                        "type": "limit_exceeded",
                    }
                ],
            )
        return Resumption(after=after, live_after=max(after, latest))

    def replay(
        self, connection_id: str, viewer: Viewer, channel: Channel, resumption: Resumption
    ) -> ReplayReport:
        assert channel.resource_type is not None and channel.resource_id is not None
        through = self._history.latest_sequence(viewer.tenant_id, channel.resource_type, channel.resource_id)
        report = ReplayReport(through=through)
        events = self._history.replay(viewer.tenant_id, channel.resource_id, resumption.after, through)
        for event in events:
            if not self._sendable(event, viewer, channel):
                continue
            if event.sequence > resumption.live_after and not self._connections.claim_sequence(
                connection_id, channel.name, event.sequence, self._expiry()
            ):
                report.skipped_by_live += 1
                continue
            message = event_message(event.type, channel, event.data, event.created_at, event.sequence)
            outcome = self._pusher.push(connection_id, message)
            if outcome is PushOutcome.GONE:
                report.gone = True
                return report
            if outcome is PushOutcome.FAILED:
                report.failed += 1
            else:
                report.replayed += 1
        self._connections.finish_replay(connection_id, channel.name, through)
        return report

    def admits(self, subscriber: Subscriber, channel: Channel, sequence: int | None) -> bool:
        """The live side of the seam: whether the fan-out sends event `sequence` of the channel's own
        resource to a (possibly resumed) subscriber."""
        if sequence is None or subscriber.live_after is None:
            return True
        if sequence <= subscriber.live_after:
            return False
        if subscriber.replay_through is not None and sequence > subscriber.replay_through:
            return True
        return self._connections.claim_sequence(
            subscriber.connection_id, channel.name, sequence, self._expiry()
        )

    @staticmethod
    def _sendable(event: StoredEvent, viewer: Viewer, channel: Channel) -> bool:
        # What the live fan-out would have sent this connection: published on this very channel (a countdown
        # gets only the wallet's countdown events), and of the viewer's own tenant.
        return channel.name in event.channels and event.tenant_id == viewer.tenant_id

    def _expiry(self) -> datetime:
        return self._clock.now() + SEAM_CLAIM_LIFETIME
