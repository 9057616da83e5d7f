"""Audit entries on the table: the `AUDIT#` item an AuditEntry is stored as (by the entity's partition, on
the tenant's list in gsi1 and its actor's in gsi2, ordered by time then id), and the entry read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.outbox.records import AuditEntry, iso

AUDIT_PREFIX = "AUDIT#"


def entity_partition(resource_id: str) -> str:
    return f"{AUDIT_PREFIX}{resource_id}"


def tenant_partition(tenant_id: str) -> str:
    """gsi1: the tenant's entries by time."""
    return f"TENANT#{tenant_id}#AUDIT"


def actor_partition(tenant_id: str, actor: str) -> str:
    """gsi2: one actor's entries in the tenant by time."""
    return f"{tenant_partition(tenant_id)}#ACTOR#{actor}"


def audit_item(entry: AuditEntry) -> dict[str, Any]:
    """The stored entry (plain values; shared.adapters.dynamodb_table.put_new serializes it)."""
    order = f"{iso(entry.at)}#{entry.id}"
    return {
        "pk": entity_partition(entry.resource_id),
        "sk": order,
        "gsi1pk": tenant_partition(entry.tenant_id),
        "gsi1sk": order,
        "gsi2pk": actor_partition(entry.tenant_id, entry.actor),
        "gsi2sk": order,
        "audit_id": entry.id,
        "entity_id": entry.resource_id,
        "action": entry.action,
        "actor": entry.actor,
        "tenant_id": entry.tenant_id,
        "changes": entry.changes,
        "ip_address": entry.ip_address,
        "request_id": entry.request_id,
        "created_at": iso(entry.at),
    }


def audit_entry_of(values: dict[str, Any]) -> AuditEntry:
    """The entry of a stored item's plain values (shared.adapters.dynamodb_table.from_item)."""
    return AuditEntry(
        resource_id=values["entity_id"],
        action=values["action"],
        actor=values["actor"],
        tenant_id=values["tenant_id"],
        at=datetime.fromisoformat(values["created_at"]),
        changes=values.get("changes") or {},
        ip_address=values.get("ip_address"),
        request_id=values.get("request_id"),
        id=values["audit_id"],
    )
