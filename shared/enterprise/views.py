"""Admin views of what the system already writes: the tenant's audit trail and its wallets' destruction
logs, each log verified again on every read (its hash recomputed from the stored canonical text)."""

from __future__ import annotations

import json
from datetime import datetime

from shared.auth import ADMIN, Principal, require_role
from shared.destruction.log import facts_of, verify
from shared.enterprise.ports import AuditQuery, AuditTrail, DestructionLogs, StoredDestructionLog
from shared.errors import NotFound, ValidationFailed
from shared.ids import is_wallet_id
from shared.models.enterprise import (
    AuditEntryOut,
    AuditPageOut,
    AuditResource,
    DestructionLogOut,
    DestructionLogPageOut,
)
from shared.outbox.records import AuditEntry, iso


class EnterpriseViews:
    def __init__(self, audit: AuditTrail, destruction_logs: DestructionLogs) -> None:
        self._audit = audit
        self._logs = destruction_logs

    def audit(
        self,
        principal: Principal,
        *,
        resource_id: str | None,
        actor: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> AuditPageOut:
        require_role(principal, ADMIN)
        if since is not None and since.tzinfo is None:
            detail = {
                "field": "since",
                "message": "must carry a time zone (Z or +00:00)",
                "type": "value_error",
            }
            raise ValidationFailed("since is invalid", [detail])
        query = AuditQuery(principal.tenant_id, limit, resource_id, actor, since, cursor)
        page = self._audit.page(query)
        entries = [_audit_out(entry) for entry in page.entries]
        return AuditPageOut(
            entries=entries, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
        )

    def destruction_logs(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> DestructionLogPageOut:
        require_role(principal, ADMIN)
        page = self._logs.page(principal.tenant_id, limit, cursor)
        return DestructionLogPageOut(
            destruction_logs=[_log_out(stored) for stored in page.logs],
            next_cursor=page.next_cursor,
            has_more=page.next_cursor is not None,
        )

    def destruction_log(self, principal: Principal, wallet_id: str) -> DestructionLogOut:
        require_role(principal, ADMIN)
        stored = self._logs.get(wallet_id) if is_wallet_id(wallet_id) else None
        # Another tenant's log is as absent as a missing one (never leak existence).
        if stored is None or stored.tenant_id != principal.tenant_id:
            raise NotFound("destruction log not found")
        return _log_out(stored)


def _audit_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        actor=entry.actor,
        action=entry.action,
        resource=AuditResource(type=entry.resource_type, id=entry.resource_id),
        ip_address=entry.ip_address,
        request_id=entry.request_id,
        changes=json.loads(json.dumps(entry.changes, default=str)),
        at=iso(entry.at),
    )


def _log_out(stored: StoredDestructionLog) -> DestructionLogOut:
    log = stored.log
    try:
        verified = verify(log)
        facts = facts_of(log)
    except ValueError:
        # A record that no longer parses was tampered with: shown as stored, not verified.
        verified, facts = False, None
    return DestructionLogOut(
        wallet_id=log.wallet_id,
        method=str((facts or {}).get("method", "")),
        record=log.record,
        facts=facts if isinstance(facts, dict) else None,
        verification_hash=log.verification_hash,
        verified=verified,
        created_at=iso(stored.created_at),
    )
