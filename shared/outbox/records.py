"""Outbox and audit items: written in the same transaction as the state change they describe.

Events leave through the table's stream (see docs/DESIGN.md): an `OUTBOX#` item committed is an event
published, even if the writer dies right after. Items here are plain Python values (Decimal for numbers);
the DynamoDB adapters serialize them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.ids import new_id
from shared.outbox.request_origin import current_origin

OUTBOX_RETENTION = timedelta(days=7)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, sortable as a string."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def outbox_item(event_name: str, channels: list[str], data: dict[str, Any], now: datetime) -> dict[str, Any]:
    event_id = new_id("evt")
    return {
        "pk": f"OUTBOX#{event_id}",
        "sk": "EVENT",
        "event_id": event_id,
        "event_name": event_name,
        "channels": channels,
        "data": data,
        "created_at": iso(now),
        "ttl": int((now + OUTBOX_RETENTION).timestamp()),
    }


def audit_item(
    entity_id: str, action: str, actor: str, tenant_id: str, now: datetime, changes: dict[str, Any]
) -> dict[str, Any]:
    """One audit entry: by entity (`AUDIT#{id}`), and on the tenant's audit list (gsi1) and its actor's
    (gsi2) for GET /api/v1/audit; with the client IP and request id of the request being served, if any."""
    audit_id = new_id("aud")
    order = f"{iso(now)}#{audit_id}"
    origin = current_origin()
    return {
        "pk": f"AUDIT#{entity_id}",
        "sk": order,
        "gsi1pk": f"TENANT#{tenant_id}#AUDIT",
        "gsi1sk": order,
        "gsi2pk": f"TENANT#{tenant_id}#AUDIT#ACTOR#{actor}",
        "gsi2sk": order,
        "audit_id": audit_id,
        "entity_id": entity_id,
        "action": action,
        "actor": actor,
        "tenant_id": tenant_id,
        "changes": changes,
        "ip_address": origin.ip_address if origin else None,
        "request_id": origin.request_id if origin else None,
        "created_at": iso(now),
    }
