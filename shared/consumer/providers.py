"""Provider health as a consumer sees it: the recorded checks, in the provider endpoints' two shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.outbox.records import iso
from shared.providers.models import CIRCLE, DEFAULT_ORDER, TEMPO
from shared.providers.port import ProviderHealthRepository
from shared.providers.service import Overview, ProviderView, overview

# Before its first check nobody can vouch for a provider either way (the contract's `unknown`).
UNKNOWN = "unknown"
# Which coins each provider serves for consumers (Circle: USDC and EURC only).
SERVES: dict[str, tuple[str, ...]] = {
    TEMPO: ("EURC", "PYUSD", "USDB", "USDC", "USDT"),
    CIRCLE: ("EURC", "USDC"),
}


def _status(view: ProviderView | None) -> str:
    return view.record.status.value if view and view.record else UNKNOWN


def current(repository: ProviderHealthRepository) -> Overview:
    return overview(repository, DEFAULT_ORDER)


def primary_name(seen: Overview) -> str:
    return seen.primary.name if seen.primary and seen.primary.name else DEFAULT_ORDER[0]


def health_list(repository: ProviderHealthRepository) -> dict[str, Any]:
    seen = current(repository)
    providers = []
    for name, view in seen.providers.items():
        record = view.record
        providers.append(
            {
                "name": name,
                "status": _status(view),
                "latency": record.latency_ms if record else None,
                "successRate": float(record.success_rate)
                if record and record.success_rate is not None
                else None,
                "currencies": list(SERVES.get(name, ())),
            }
        )
    return {"providers": providers, "primary": primary_name(seen)}


def status_view(repository: ProviderHealthRepository, now: datetime) -> dict[str, Any]:
    seen = current(repository)
    data: dict[str, Any] = {}
    for name in (TEMPO, CIRCLE):
        view = seen.providers.get(name)
        record = view.record if view else None
        data[name] = {
            "status": _status(view),
            "latency": record.latency_ms if record else None,
            "error_rate": float(record.error_rate) if record and record.error_rate is not None else None,
            "checked_at": iso(record.checked_at) if record else None,
            "currencies": list(SERVES[name]),
        }
    data["primary"] = primary_name(seen)
    data["timestamp"] = iso(now)
    return data
