"""API output models of the enterprise views: audit entries and destruction logs (typed, for OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class AuditResource(BaseModel):
    type: str
    id: str


class AuditEntryOut(BaseModel):
    id: str
    actor: str
    action: str
    resource: AuditResource
    ip_address: str | None
    request_id: str | None
    changes: dict[str, Any]
    at: str


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None
    has_more: bool


class AuditEnvelope(BaseModel):
    success: Literal[True] = True
    data: AuditPageOut


class DestructionLogOut(BaseModel):
    wallet_id: str
    method: str
    record: str
    facts: dict[str, Any] | None
    verification_hash: str
    verified: bool
    created_at: str


class DestructionLogPageOut(BaseModel):
    destruction_logs: list[DestructionLogOut]
    next_cursor: str | None
    has_more: bool


class DestructionLogEnvelope(BaseModel):
    success: Literal[True] = True
    data: DestructionLogOut


class DestructionLogPageEnvelope(BaseModel):
    success: Literal[True] = True
    data: DestructionLogPageOut
