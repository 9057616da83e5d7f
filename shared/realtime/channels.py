"""Channel grammar of the WebSocket API and who may follow which channel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from shared.errors import ValidationFailed
from shared.realtime.ports import Viewer

# `consumer:` and a subject of up to 128 characters is the longest.
MAX_CHANNEL_LENGTH = 137
_ID = r"[a-z0-9]{1,64}"
_SUBJECT = r"[A-Za-z0-9][A-Za-z0-9_.:@|+-]{0,127}"
_CHANNEL = re.compile(
    rf"(?P<kind>wallet|countdown):(?P<wallet>wal_{_ID})|invoice:(?P<invoice>inv_{_ID})|(?P<wide>admin|platform)"
    rf"|(?P<batch>payout|import):(?P<batch_id>[a-z]{{1,8}}_{_ID})|consumer(?::(?P<person>{_SUBJECT}))?"
)
_GRAMMAR = (
    "channel must be wallet:<id>, countdown:<id>, invoice:<id>, payout:<id>, import:<id>, consumer, admin or"
    " platform"
)


class ChannelKind(Enum):
    WALLET = "wallet"
    COUNTDOWN = "countdown"
    INVOICE = "invoice"
    ADMIN = "admin"
    CONSUMER = "consumer"
    """A person's own consumer events. Clients name it `consumer`; the server keeps it as
    `consumer:<sub>` (the outbox names it so too), resolved from the connection's own subject."""
    # Every tenant's reserve and provider events, for operators only.
    PLATFORM = "platform"
    # A payout's or an invoice import's progress, for the tenant's merchants and admins.
    PAYOUT = "payout"
    IMPORT = "import"


# The resource whose history a channel follows (its events' `sequence` counts per resource): only channels
# that name one resource can resume with `after_sequence`. A countdown follows its wallet.
_RESOURCE_OF = {
    ChannelKind.WALLET: "wallet",
    ChannelKind.COUNTDOWN: "wallet",
    ChannelKind.INVOICE: "invoice",
    ChannelKind.PAYOUT: "payout",
    ChannelKind.IMPORT: "import",
}


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    resource_id: str | None

    @property
    def name(self) -> str:
        return self.kind.value if self.resource_id is None else f"{self.kind.value}:{self.resource_id}"

    @property
    def public_name(self) -> str:
        """The name clients know it by: `consumer` for every person's own channel."""
        return self.kind.value if self.kind is ChannelKind.CONSUMER else self.name

    @property
    def resource_type(self) -> str | None:
        """The type of the one resource the channel follows, or None (admin, platform, consumer)."""
        return _RESOURCE_OF.get(self.kind) if self.resource_id else None

    def is_about(self, resource: Mapping[str, str] | None) -> bool:
        """Whether an event about `resource` ({type, id}) is one of this channel's own resource's events."""
        return (
            resource is not None
            and self.resource_type is not None
            and resource.get("type") == self.resource_type
            and resource.get("id") == self.resource_id
        )

    def for_viewer(self, viewer: Viewer) -> Channel:
        """The channel as stored for `viewer`: `consumer` becomes the viewer's own `consumer:<sub>`."""
        if self.kind is ChannelKind.CONSUMER:
            return Channel(ChannelKind.CONSUMER, viewer.sub)
        return self


def parse_channel(raw: object) -> Channel:
    """The channel named by a client message; anything outside the grammar is a validation error."""
    if not isinstance(raw, str) or len(raw) > MAX_CHANNEL_LENGTH:
        raise ValidationFailed(_GRAMMAR)
    match = _CHANNEL.fullmatch(raw)
    if match is None:
        raise ValidationFailed(_GRAMMAR)
    if match["wallet"]:
        return Channel(ChannelKind(match["kind"]), match["wallet"])
    if match["invoice"]:
        return Channel(ChannelKind.INVOICE, match["invoice"])
    if match["wide"]:
        return Channel(ChannelKind(match["wide"]), None)
    if match["batch"]:
        return Channel(ChannelKind(match["batch"]), match["batch_id"])
    return Channel(ChannelKind.CONSUMER, match["person"])


def may_view(viewer: Viewer, tenant_id: str, customer_id: str | None, invoice_id: str | None) -> bool:
    """The contract's rule: merchants and admins see their tenant, customers what is addressed to them.

    A payment-link connection sees only its own invoice (and that invoice's wallet), whatever its roles.
    """
    if viewer.tenant_id != tenant_id:
        return False
    if viewer.link_invoice_id is not None:
        return invoice_id is not None and invoice_id == viewer.link_invoice_id
    if viewer.acts_for_tenant:
        return True
    return customer_id is not None and customer_id == viewer.sub
