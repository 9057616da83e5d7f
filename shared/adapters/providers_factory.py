"""The stablecoin provider adapters a function talks to: every provider with a configured base URL."""

from __future__ import annotations

from shared.adapters.circle import CircleProvider
from shared.adapters.tempo import TempoProvider, http_client
from shared.config import Settings
from shared.providers.models import CIRCLE, TEMPO
from shared.providers.port import StablecoinProvider


def build_providers(settings: Settings, api_keys: dict[str, str]) -> dict[str, StablecoinProvider]:
    """Tempo and Circle adapters (one pooled httpx client each); a provider without a base URL is absent."""
    providers: dict[str, StablecoinProvider] = {}
    if settings.tempo_api_base:
        providers[TEMPO] = TempoProvider(
            http_client(settings.tempo_api_base), api_keys.get("tempo_api_key", "")
        )
    if settings.circle_api_base:
        providers[CIRCLE] = CircleProvider(
            http_client(settings.circle_api_base), api_keys.get("circle_api_key", "")
        )
    return providers
