"""The stablecoin provider adapters a function talks to: every provider with a configured base URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_provider_health import DynamoDBProviderHealthRepository
from shared.adapters.tempo import TempoProvider, http_client
from shared.clock import Clock
from shared.config import Settings
from shared.providers.models import CIRCLE, TEMPO
from shared.providers.port import MetricsSink, StablecoinProvider
from shared.providers.service import ProviderRouter


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


def routed_providers(
    settings: Settings,
    secrets: Callable[[], dict[str, str]],
    client: Any,
    clock: Clock,
    metrics: MetricsSink,
    providers: dict[str, StablecoinProvider] | None = None,
) -> tuple[dict[str, StablecoinProvider], ProviderRouter]:
    """The configured adapters (or those handed in) and the router that chooses among them on recorded
    health and breakers: what every function that moves tokens starts from."""
    wired = providers if providers is not None else build_providers(settings, secrets())
    repository = DynamoDBProviderHealthRepository(client, settings.table_name)
    return wired, ProviderRouter(wired, repository, clock, metrics)
