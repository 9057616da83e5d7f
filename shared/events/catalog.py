"""The event names a merchant may filter on or subscribe to (API.md "WebSocket" and "Events and webhooks").

One list, so an endpoint's `enabled_events` can refuse a misspelt name with 400 instead of silently never
matching. Families whose members other capabilities add (`payout.*`, `import.*`) are accepted by prefix.
"""

from __future__ import annotations

EVENT_NAMES = frozenset(
    {
        "invoice.created",
        "invoice.sent",
        "invoice.voided",
        "invoice.deleted",
        "invoice.paid",
        "invoice.partially_paid",
        "invoice.overdue",
        "wallet:created",
        "wallet:funded",
        "wallet:transformed",
        "wallet:refunded",
        "wallet:destroyed",
        "wallet.expired",
        "payment:received",
        "payment:complete",
        "balance:updated",
        "transfer:received",
        "transfer:sent",
        "deposit:complete",
        "withdrawal:complete",
        "swap:complete",
        "kyc:upgraded",
        "provider:switched",
        "provider.statusChange",
        "reserve:discrepancy",
        "webhook_endpoint.disabled",
    }
)
EVENT_FAMILIES = ("payout.", "import.")
ALL_EVENTS = "*"


def is_known_event(name: str) -> bool:
    """A catalog name, or a member or wildcard (`payout.*`) of a family."""
    if name in EVENT_NAMES:
        return True
    for family in EVENT_FAMILIES:
        if name.startswith(family):
            rest = name[len(family) :]
            return rest == "*" or (bool(rest) and rest.replace("_", "").isalnum() and rest.islower())
    return False


def matches(enabled: tuple[str, ...], name: str) -> bool:
    """Whether an endpoint that enabled `enabled` receives an event named `name`."""
    for wanted in enabled:
        if wanted in (ALL_EVENTS, name):
            return True
        if wanted.endswith(".*") and name.startswith(wanted[:-1]):
            return True
    return False
