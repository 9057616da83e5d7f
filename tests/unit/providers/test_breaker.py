"""The circuit breaker's state machine on a FixedClock, pure and through the router with a shared store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.clock import FixedClock
from shared.errors import ProviderUnavailable
from shared.providers.errors import ProviderCallFailed, ProviderRejected
from shared.providers.models import CIRCLE, TEMPO, Asset
from shared.providers.selection import SelectionPolicy
from shared.providers.service import ProviderRouter
from shared.providers.state import BreakerPhase, BreakerPolicy, BreakerState
from tests.unit.providers.fakes import CountingMetrics, MemoryHealthRepository, ScriptedProvider

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = BreakerPolicy()


def fail(state: BreakerState, clock: FixedClock, times: int) -> BreakerState:
    for _ in range(times):
        state = state.after_failure(clock.now(), POLICY)
    return state


def test_opens_after_consecutive_failures_and_not_before() -> None:
    clock = FixedClock(T0)
    state = fail(BreakerState(TEMPO), clock, POLICY.failure_threshold - 1)
    assert state.phase is BreakerPhase.CLOSED and state.consecutive_failures == 4
    state = fail(state, clock, 1)
    assert state.phase is BreakerPhase.OPEN and state.opened_at == T0


def test_a_success_resets_the_consecutive_count() -> None:
    clock = FixedClock(T0)
    state = fail(BreakerState(TEMPO), clock, 4).after_success(clock.now(), POLICY)
    assert state.consecutive_failures == 0
    assert fail(state, clock, 4).phase is BreakerPhase.CLOSED


def test_opens_on_error_rate_within_the_window() -> None:
    clock = FixedClock(T0)
    state = BreakerState(TEMPO)
    for _ in range(5):  # alternate: never 5 in a row, but half of 10 calls failed
        state = state.after_failure(clock.now(), POLICY).after_success(clock.now(), POLICY)
    assert state.window_calls == 10 and state.window_failures == 5
    assert state.phase is BreakerPhase.CLOSED
    assert state.after_failure(clock.now(), POLICY).phase is BreakerPhase.OPEN


def test_the_window_rolls_over() -> None:
    clock = FixedClock(T0)
    state = BreakerState(TEMPO)
    for _ in range(4):
        state = state.after_failure(clock.now(), POLICY).after_success(clock.now(), POLICY)
    clock.advance(seconds=61)
    state = state.after_failure(clock.now(), POLICY)
    assert (state.window_calls, state.window_failures) == (1, 1)
    assert state.phase is BreakerPhase.CLOSED


def test_open_blocks_until_cool_down_then_admits_one_trial() -> None:
    clock = FixedClock(T0)
    state = fail(BreakerState(TEMPO), clock, 5)
    assert state.admit(clock.now(), POLICY) is None
    clock.advance(seconds=29)
    assert state.admit(clock.now(), POLICY) is None
    clock.advance(seconds=1)
    trial = state.admit(clock.now(), POLICY)
    assert trial is not None and trial.phase is BreakerPhase.HALF_OPEN
    assert trial.admit(clock.now(), POLICY) is None  # a second caller waits for the trial's outcome


def test_half_open_trial_success_closes_and_failure_reopens() -> None:
    clock = FixedClock(T0)
    state = fail(BreakerState(TEMPO), clock, 5)
    clock.advance(seconds=30)
    trial = state.admit(clock.now(), POLICY)
    assert trial is not None
    closed = trial.after_success(clock.now(), POLICY)
    assert closed.phase is BreakerPhase.CLOSED and closed.consecutive_failures == 0
    reopened = trial.after_failure(clock.now(), POLICY)
    assert reopened.phase is BreakerPhase.OPEN and reopened.opened_at == clock.now()


def test_an_abandoned_trial_is_retried_after_a_cool_down() -> None:
    clock = FixedClock(T0)
    trial = fail(BreakerState(TEMPO), clock, 5)
    clock.advance(seconds=30)
    trial = trial.admit(clock.now(), POLICY)  # type: ignore[assignment]
    clock.advance(seconds=30)
    assert trial.admit(clock.now(), POLICY) is not None


def router_with(
    repo: MemoryHealthRepository, clock: FixedClock, *providers: ScriptedProvider
) -> ProviderRouter:
    return ProviderRouter({p.name: p for p in providers}, repo, clock, CountingMetrics(), SelectionPolicy())


def test_router_counts_outages_not_refusals_and_opens_in_the_store() -> None:
    clock, repo = FixedClock(T0), MemoryHealthRepository()
    tempo = ScriptedProvider(TEMPO)
    tempo.failures = [ProviderRejected(TEMPO, "insufficient_funds", "short", 400)] + [
        ProviderCallFailed(TEMPO, "HTTP 503") for _ in range(5)
    ]
    router = router_with(repo, clock, tempo, ScriptedProvider(CIRCLE))
    mint = lambda p: p.mint(Asset.USDC, 1_000_000, "0x" + "1" * 40, "k1")  # noqa: E731
    with pytest.raises(ProviderRejected):
        router.call(TEMPO, mint)
    assert TEMPO not in repo.breakers  # a refusal writes nothing on the happy path
    for _ in range(5):
        with pytest.raises(ProviderCallFailed):
            router.call(TEMPO, mint)
    assert repo.breakers[TEMPO].phase is BreakerPhase.OPEN
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        router.call(TEMPO, mint)
    assert tempo.minted == []


def test_two_routers_share_one_breaker_through_the_store() -> None:
    clock, repo = FixedClock(T0), MemoryHealthRepository()
    first_tempo, second_tempo = ScriptedProvider(TEMPO), ScriptedProvider(TEMPO)
    first_tempo.failures = [ProviderCallFailed(TEMPO, "timeout") for _ in range(3)]
    second_tempo.failures = [ProviderCallFailed(TEMPO, "timeout") for _ in range(2)]
    first, second = router_with(repo, clock, first_tempo), router_with(repo, clock, second_tempo)
    mint = lambda p: p.mint(Asset.USDC, 1, "0x" + "1" * 40, "k")  # noqa: E731
    for router, provider, times in ((first, first_tempo, 3), (second, second_tempo, 2)):
        for _ in range(times):
            with pytest.raises(ProviderCallFailed):
                router.call(provider.name, mint)
    assert repo.breakers[TEMPO].phase is BreakerPhase.OPEN
    assert repo.breakers[TEMPO].version == 5
    assert repo.breakers[TEMPO].window_failures == 5
    assert Decimal(repo.breakers[TEMPO].window_failures) / repo.breakers[TEMPO].window_calls == 1
