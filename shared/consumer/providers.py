"""Provider health as a consumer sees it: the recorded checks, in the provider endpoints' two shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.providers import views
from shared.providers.models import CIRCLE, DEFAULT_ORDER, TEMPO
from shared.providers.port import ProviderHealthRepository
from shared.providers.service import Overview, overview

# Which coins each provider serves for consumers (Circle: USDC and EURC only).
SERVES: dict[str, tuple[str, ...]] = {
    TEMPO: ("EURC", "PYUSD", "USDB", "USDC", "USDT"),
    CIRCLE: ("EURC", "USDC"),
}


def current(repository: ProviderHealthRepository) -> Overview:
    return overview(repository, DEFAULT_ORDER)


def primary_name(seen: Overview) -> str:
    return seen.primary.name if seen.primary and seen.primary.name else DEFAULT_ORDER[0]


def primary(repository: ProviderHealthRepository) -> str:
    """The provider a consumer's money goes to now (the configured first before any election)."""
    return primary_name(current(repository))


def health_list(repository: ProviderHealthRepository) -> dict[str, Any]:
    """The providers endpoint's list, each with the coins it serves, and the primary."""
    seen = current(repository)
    listed = views.health_list(seen)["providers"]
    for item in listed:
        item["currencies"] = list(SERVES.get(item["name"], ()))
    return {"providers": listed, "primary": primary_name(seen)}


def status_view(repository: ProviderHealthRepository, now: datetime) -> dict[str, Any]:
    """The provider-health status view, each provider with the coins it serves."""
    data = views.health_status(current(repository), now)
    for name in (TEMPO, CIRCLE):
        data[name]["currencies"] = list(SERVES[name])
    return data
