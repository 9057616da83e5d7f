"""The provider-health views as the API answers them: recorded health, the primary, and the history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.outbox.records import iso
from shared.providers.models import CIRCLE, TEMPO
from shared.providers.service import UNKNOWN, Overview, ProviderView, primary_name
from shared.providers.state import HealthRecord, PrimaryRecord


def _number(value: Decimal | None) -> float | None:
    # Rates and throughput are measurements, not money: a JSON number is the natural form.
    return float(value) if value is not None else None


def _status(view: ProviderView | None) -> str:
    # Before its first check nobody can vouch for a provider either way: `unknown`, neither healthy nor
    # down (funding still routes to it, guarded by its circuit breaker).
    return view.record.status.value if view and view.record else UNKNOWN


def health_list(overview: Overview) -> dict[str, Any]:
    """`GET /api/v1/providers/health`."""
    listed = []
    for name, view in overview.providers.items():
        record = view.record
        listed.append(
            {
                "name": name,
                "status": _status(view),
                "latency": record.latency_ms if record else None,
                "successRate": _number(record.success_rate) if record else None,
            }
        )
    return {"providers": listed}


def health_status(overview: Overview, now: datetime) -> dict[str, Any]:
    """`GET /api/v2/provider-health/status`."""
    data: dict[str, Any] = {}
    for name in (TEMPO, CIRCLE):
        view = overview.providers.get(name)
        record = view.record if view else None
        data[name] = {
            "status": _status(view),
            "latency": record.latency_ms if record else None,
            "tps": _number(record.tps) if record else None,
            "error_rate": _number(record.error_rate) if record else None,
            "checked_at": iso(record.checked_at) if record else None,
            "circuit": view.breaker.phase.value if view else "closed",
        }
    data["primary"] = primary_name(overview, now)
    data["timestamp"] = iso(now)
    return data


def history_entry(entry: HealthRecord | PrimaryRecord) -> dict[str, Any]:
    """One line of `GET /api/v2/provider-health/history`: a check, or a change of primary."""
    if isinstance(entry, HealthRecord):
        return {
            "type": "check",
            "provider": entry.name,
            "status": entry.status.value,
            "latency_ms": entry.latency_ms,
            "error_rate": _number(entry.error_rate),
            "tps": _number(entry.tps),
            "checked_at": iso(entry.checked_at),
        }
    return {
        "type": "primary_change",
        "from": entry.previous,
        "to": entry.name,
        "reason": entry.reason,
        "changed_at": iso(entry.since),
    }
