"""choose_provider over recorded health and breakers: Tempo first, Circle when Tempo is unusable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import FixedClock
from shared.errors import ProviderUnavailable
from shared.providers.models import CIRCLE, TEMPO, HealthStatus
from shared.providers.selection import SelectionPolicy
from shared.providers.service import ProviderRouter
from shared.providers.state import BreakerPhase, BreakerState, HealthRecord
from tests.unit.providers.fakes import CountingMetrics, MemoryHealthRepository, ScriptedProvider

T0 = datetime(2030, 1, 1, tzinfo=UTC)
H, D, X = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.DOWN
OPEN = "open"


def record(name: str, status: HealthStatus, age: timedelta = timedelta(0)) -> HealthRecord:
    return HealthRecord(name, status, 50, T0 - age, (True,), version=1)


def choose(
    tempo: HealthStatus | None,
    circle: HealthStatus | None,
    *,
    tempo_breaker: str = "closed",
    preference: str | None = None,
    tempo_age: timedelta = timedelta(0),
) -> str:
    repo = MemoryHealthRepository()
    if tempo is not None:
        repo.health[TEMPO] = record(TEMPO, tempo, tempo_age)
    if circle is not None:
        repo.health[CIRCLE] = record(CIRCLE, circle)
    if tempo_breaker == OPEN:
        repo.breakers[TEMPO] = BreakerState(TEMPO, BreakerPhase.OPEN, 5, T0, 5, 5, T0 - timedelta(seconds=10))
    providers = {name: ScriptedProvider(name) for name in (TEMPO, CIRCLE)}
    router = ProviderRouter(providers, repo, FixedClock(T0), CountingMetrics(), SelectionPolicy())
    return router.choose_provider(preference).name


@pytest.mark.parametrize(
    ("tempo", "circle", "expected"),
    [
        (H, H, TEMPO),
        (H, X, TEMPO),
        (D, H, CIRCLE),
        (D, D, TEMPO),
        (D, X, TEMPO),
        (X, H, CIRCLE),
        (X, D, CIRCLE),
        (None, H, CIRCLE),  # never checked ranks below a checked healthy one
        (None, None, TEMPO),  # before the first check: the default order, the breaker guards
    ],
)
def test_matrix(tempo: HealthStatus | None, circle: HealthStatus | None, expected: str) -> None:
    assert choose(tempo, circle) == expected


def test_both_down_is_provider_unavailable() -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        choose(X, X)
    assert caught.value.status == 503 and caught.value.code == "provider_unavailable"


def test_an_open_breaker_skips_a_healthy_tempo() -> None:
    assert choose(H, H, tempo_breaker=OPEN) == CIRCLE
    with pytest.raises(ProviderUnavailable):
        choose(H, X, tempo_breaker=OPEN)


def test_a_stale_record_ranks_as_unknown() -> None:
    assert choose(H, H, tempo_age=timedelta(minutes=6)) == CIRCLE
    assert choose(H, X, tempo_age=timedelta(minutes=6)) == TEMPO


def test_preference_wins_only_when_usable() -> None:
    assert choose(H, H, preference=CIRCLE) == CIRCLE
    assert choose(H, D, preference=CIRCLE) == CIRCLE
    assert choose(H, X, preference=CIRCLE) == TEMPO
    assert choose(H, H, preference="nonsense") == TEMPO
