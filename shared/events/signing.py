"""Standard Webhooks 1.0 signing: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`,
one per live secret (space-separated), keyed by the base64 key after the `whsec_` prefix."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from shared.events.endpoints import SECRET_PREFIX


def payload(event_type: str, created_at: str, data: dict[str, Any]) -> bytes:
    """The body every attempt of an event sends: `{type, timestamp, data}` (the same bytes each time)."""
    return json.dumps(
        {"type": event_type, "timestamp": created_at, "data": data}, separators=(",", ":")
    ).encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets: list[str], message_id: str, sent_at: datetime, body: bytes) -> dict[str, str]:
    timestamp = int(sent_at.timestamp())
    return {
        "content-type": "application/json",
        "user-agent": "Monay-Webhooks/1.0",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
    }
