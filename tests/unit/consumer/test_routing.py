"""The deposit routing table and the provider choice: by urgency and amount, among providers serving the coin,
from recorded health only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.clock import FixedClock
from shared.consumer.routing import DEPOSIT_ROUTES, ProviderChooser, deposit_route
from shared.errors import ProviderUnavailable
from shared.providers.models import HealthStatus
from shared.providers.state import HealthRecord

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
DOLLARS = 10**6


class Recorded:
    """The health repository as the scheduled check leaves it."""

    def __init__(self, **statuses: HealthStatus) -> None:
        self.health = {name: HealthRecord(name, status, 50, NOW) for name, status in statuses.items()}

    def snapshot(self, names: Any) -> tuple[dict[str, HealthRecord], dict[str, Any], None]:
        return {n: r for n, r in self.health.items() if n in names}, {}, None


def chooser(**statuses: HealthStatus) -> ProviderChooser:
    configured: dict[str, Any] = {"tempo": object(), "circle": object()}
    return ProviderChooser(lambda: configured, Recorded(**statuses), FixedClock(NOW))  # type: ignore[arg-type]


def test_every_urgency_has_an_unbounded_row() -> None:
    for urgency in {route.urgency for route in DEPOSIT_ROUTES}:
        assert deposit_route(urgency, 10**15).up_to_usd is None


def test_instant_goes_tempo_first_and_a_large_standard_deposit_circle_first() -> None:
    assert deposit_route("instant", 50_000 * DOLLARS).order == ("tempo", "circle")
    assert deposit_route("standard", 10_000 * DOLLARS).order == ("tempo", "circle")
    assert deposit_route("standard", 10_000 * DOLLARS + 1).order == ("circle", "tempo")


def test_a_healthy_tempo_serves_every_coin_and_circle_only_usdc_and_eurc() -> None:
    healthy = chooser(tempo=HealthStatus.HEALTHY, circle=HealthStatus.HEALTHY)
    assert healthy.choose("PYUSD") == "tempo"
    assert healthy.choose("PYUSD", ("circle", "tempo")) == "tempo"
    assert healthy.choose("USDC", ("circle", "tempo")) == "circle"
    assert healthy.candidates("EURC") == ["tempo", "circle"]


def test_with_tempo_down_usdc_goes_to_circle_and_other_coins_have_none() -> None:
    down = chooser(tempo=HealthStatus.DOWN, circle=HealthStatus.HEALTHY)
    assert down.choose("USDC") == "circle"
    for coin in ("USDT", "PYUSD", "USDB"):
        with pytest.raises(ProviderUnavailable):
            down.choose(coin)


def test_a_degraded_provider_ranks_below_a_healthy_one() -> None:
    assert chooser(tempo=HealthStatus.DEGRADED, circle=HealthStatus.HEALTHY).choose("USDC") == "circle"
    assert chooser(tempo=HealthStatus.DEGRADED, circle=HealthStatus.DOWN).choose("USDC") == "tempo"
