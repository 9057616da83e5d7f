"""The scheduled check: records, status-change events, primary switches with outbox event and metric."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.clock import FixedClock
from shared.providers.models import CIRCLE, TEMPO, HealthSample, HealthStatus
from shared.providers.service import FAILOVER_METRIC, HealthCheckService
from shared.providers.state import HEALTH_WINDOW
from tests.unit.providers.fakes import CountingMetrics, MemoryHealthRepository, ScriptedProvider

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def setup() -> tuple[
    HealthCheckService, MemoryHealthRepository, CountingMetrics, ScriptedProvider, FixedClock
]:
    repo, metrics, clock = MemoryHealthRepository(), CountingMetrics(), FixedClock(T0)
    tempo = ScriptedProvider(TEMPO, HealthSample(HealthStatus.HEALTHY, 30, Decimal("2.5"), Decimal("0.01")))
    circle = ScriptedProvider(CIRCLE, HealthSample(HealthStatus.HEALTHY, 80))
    service = HealthCheckService({TEMPO: tempo, CIRCLE: circle}, repo, clock, metrics)
    return service, repo, metrics, tempo, clock


def events(repo: MemoryHealthRepository, name: str) -> list[dict[str, object]]:
    return [item["data"] for item in repo.outbox if item["event_name"] == name]


def test_first_check_records_both_and_elects_tempo_without_a_failover() -> None:
    service, repo, metrics, _, _ = setup()
    overview = service.run()
    assert overview.primary is not None and overview.primary.name == TEMPO
    assert overview.primary.reason == "initial election"
    tempo = repo.health[TEMPO]
    assert (tempo.status, tempo.latency_ms, tempo.tps, tempo.error_rate) == (
        HealthStatus.HEALTHY, 30, Decimal("2.5"), Decimal("0.01")
    )  # fmt: skip
    assert repo.health[CIRCLE].error_rate == Decimal(0)  # Circle reports none: 1 - success rate
    assert events(repo, "provider:switched") == [] and metrics.counts == {}
    assert [e["to"] for e in events(repo, "provider.statusChange")] == ["healthy", "healthy"]


def test_tempo_down_switches_to_circle_with_event_and_metric_then_back() -> None:
    service, repo, metrics, tempo, clock = setup()
    service.run()
    tempo.sample = HealthSample(HealthStatus.DOWN, 2000, error="timeout")
    clock.advance(minutes=1)
    overview = service.run()
    assert overview.primary is not None and overview.primary.name == CIRCLE
    switched = events(repo, "provider:switched")
    assert switched == [
        {"from": TEMPO, "to": CIRCLE, "reason": "tempo down", "at": "2030-01-01T00:01:00.000Z"}
    ]
    assert all(item["channels"] == ["admin", "platform"] for item in repo.outbox)
    assert metrics.counts == {FAILOVER_METRIC: 1}
    change = events(repo, "provider.statusChange")[-1]
    assert (change["provider"], change["from"], change["to"]) == (TEMPO, "healthy", "down")

    clock.advance(minutes=1)
    service.run()  # still down: no new events
    assert len(events(repo, "provider:switched")) == 1 and len(events(repo, "provider.statusChange")) == 3

    tempo.sample = HealthSample(HealthStatus.HEALTHY, 25)
    clock.advance(minutes=1)
    assert service.run().primary.name == TEMPO  # type: ignore[union-attr]
    back = events(repo, "provider:switched")[-1]
    assert (back["from"], back["to"], back["reason"]) == (
        CIRCLE,
        TEMPO,
        "tempo healthy ranks above circle healthy",
    )
    assert metrics.counts == {FAILOVER_METRIC: 2}


def test_success_rate_is_over_a_sliding_window() -> None:
    service, repo, _, tempo, clock = setup()
    tempo.sample = HealthSample(HealthStatus.DOWN, 1, error="x")
    for _ in range(5):
        service.run()
        clock.advance(minutes=1)
    tempo.sample = HealthSample(HealthStatus.HEALTHY, 1)
    for _ in range(HEALTH_WINDOW - 5):
        service.run()
        clock.advance(minutes=1)
    assert repo.health[TEMPO].success_rate == Decimal("0.75")
    service.run()
    assert repo.health[TEMPO].success_rate == Decimal("0.8")
    assert len(repo.health[TEMPO].samples) == HEALTH_WINDOW


def test_everything_down_records_no_primary_and_says_so() -> None:
    repo, metrics, clock = MemoryHealthRepository(), CountingMetrics(), FixedClock(T0)
    tempo, circle = ScriptedProvider(TEMPO), ScriptedProvider(CIRCLE)
    service = HealthCheckService({TEMPO: tempo, CIRCLE: circle}, repo, clock, metrics)
    service.run()
    tempo.sample = circle.sample = HealthSample(HealthStatus.DOWN, 1)
    clock.advance(minutes=1)
    assert service.run().primary.name is None  # type: ignore[union-attr]
    assert events(repo, "provider:switched")[-1]["reason"] == "tempo down"
    assert metrics.counts == {FAILOVER_METRIC: 1}
