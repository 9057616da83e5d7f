"""Health checks, the circuit breaker on calls, and the primary provider, all kept in the table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from shared.auth import OPERATOR, Principal, require_role
from shared.clock import Clock
from shared.errors import ConcurrentUpdate, ProviderUnavailable
from shared.outbox.records import Record, Resource, domain_event, iso
from shared.providers.errors import ProviderCallFailed
from shared.providers.models import HealthSample, HealthStatus
from shared.providers.port import (
    HistoryPage,
    MetricsSink,
    ProviderHealthRepository,
    ProviderHistory,
    StablecoinProvider,
)
from shared.providers.selection import SelectionPolicy, elect
from shared.providers.state import HEALTH_WINDOW, BreakerPhase, BreakerState, HealthRecord, PrimaryRecord

T = TypeVar("T")

# Provider health is platform-wide: every tenant's admins hear of it, and operators on `platform`.
ADMIN_CHANNELS = ["admin", "platform"]
FAILOVER_METRIC = "ProviderFailover"
# Lost races on a breaker are retried this often; after that the call proceeds on the state last read.
_BREAKER_WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class ProviderView:
    record: HealthRecord | None
    breaker: BreakerState


@dataclass(frozen=True)
class Overview:
    """What the two health endpoints show: each provider's record and the primary, as recorded."""

    providers: dict[str, ProviderView]
    primary: PrimaryRecord | None


# How the views show a provider nobody has checked yet (HealthStatus has no such value: a probe always
# answers healthy, degraded or down).
UNKNOWN = "unknown"


def primary_name(view: Overview, now: datetime, policy: SelectionPolicy | None = None) -> str | None:
    """The recorded primary; before the first election, the provider calls would use now (the first of
    the configured order, unless its circuit is open), not `None` while funding works."""
    if view.primary is not None:
        return view.primary.name
    health = {name: p.record for name, p in view.providers.items() if p.record is not None}
    breakers = {name: p.breaker for name, p in view.providers.items()}
    return elect(health, breakers, now, policy or SelectionPolicy(order=tuple(view.providers))).name


def provider_history(
    principal: Principal, repository: ProviderHistory, limit: int, cursor: str | None
) -> HistoryPage:
    """Every check and primary change, newest first: platform-wide, so the operator's alone."""
    require_role(principal, OPERATOR)
    return repository.history(limit, cursor)


def overview(repository: ProviderHealthRepository, names: Sequence[str]) -> Overview:
    """Every named provider as recorded (a record of None: never checked) and the primary: one read."""
    health, breakers, primary = repository.snapshot(names)
    views = {name: ProviderView(health.get(name), breakers.get(name) or BreakerState(name)) for name in names}
    return Overview(views, primary)


class ProviderRouter:
    """Picks a provider from recorded health and runs calls through its circuit breaker."""

    def __init__(
        self,
        providers: Mapping[str, StablecoinProvider],
        repository: ProviderHealthRepository,
        clock: Clock,
        metrics: MetricsSink,
        policy: SelectionPolicy | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._repository = repository
        self._clock = clock
        self._metrics = metrics
        self._policy = policy or SelectionPolicy()

    @property
    def policy(self) -> SelectionPolicy:
        return self._policy

    def choose_provider(self, preference: str | None = None) -> StablecoinProvider:
        """Tempo when healthy and its breaker allows, else Circle, else ProviderUnavailable.

        `preference` (the X-Provider-Preference header) wins when that provider is healthy or degraded.
        """
        policy = replace(self._policy, order=tuple(n for n in self._policy.order if n in self._providers))
        health, breakers, _ = self._repository.snapshot(policy.order)
        election = elect(health, breakers, self._clock.now(), policy, preference)
        if election.name is None:
            raise ProviderUnavailable("no healthy stablecoin provider")
        return self._providers[election.name]

    def knows(self, name: str | None) -> bool:
        return name is not None and name in self._providers

    def call(self, name: str, operation: Callable[[StablecoinProvider], T]) -> T:
        """Run `operation` on the provider `name` (KeyError if unknown) if the breaker admits it; outages
        count against the breaker, refusals do not."""
        provider = self._providers[name]
        self._admit(provider.name)
        try:
            result = operation(provider)
        except ProviderUnavailable:
            self._record(provider.name, failed=True)
            raise
        except Exception:
            # A refusal or a bug on our side: the provider answered, so it is not an outage.
            self._record(provider.name, failed=False)
            raise
        self._record(provider.name, failed=False)
        return result

    def _admit(self, name: str) -> None:
        for _ in range(_BREAKER_WRITE_ATTEMPTS):
            state = self._breaker(name)
            admitted = state.admit(self._clock.now(), self._policy.breaker)
            if admitted is None:
                raise ProviderCallFailed(name, f"circuit {state.phase.value}")
            if admitted == state:
                return
            try:
                self._repository.put_breaker(replace(admitted, version=state.version + 1), state.version)
                return
            except ConcurrentUpdate:
                continue
        raise ProviderCallFailed(name, "circuit half-open: another call is the trial")

    def _record(self, name: str, *, failed: bool) -> None:
        for _ in range(_BREAKER_WRITE_ATTEMPTS):
            state = self._breaker(name)
            now = self._clock.now()
            if not failed and _quiet(state):
                # The happy path writes nothing: error rates count from the first failure in a window.
                return
            after = (
                state.after_failure(now, self._policy.breaker)
                if failed
                else state.after_success(now, self._policy.breaker)
            )
            try:
                self._repository.put_breaker(replace(after, version=state.version + 1), state.version)
            except ConcurrentUpdate:
                continue
            if after.phase is BreakerPhase.OPEN and state.phase is not BreakerPhase.OPEN:
                PrimaryElection(self._repository, self._clock, self._metrics, self._policy).refresh()
            return

    def _breaker(self, name: str) -> BreakerState:
        _, breakers, _ = self._repository.snapshot([name])
        return breakers.get(name) or BreakerState(name)


def _quiet(state: BreakerState) -> bool:
    return (
        state.phase is BreakerPhase.CLOSED and state.consecutive_failures == 0 and state.window_failures == 0
    )


class PrimaryElection:
    """Re-elects the primary from what is recorded; a change is one transaction with its outbox event."""

    def __init__(
        self,
        repository: ProviderHealthRepository,
        clock: Clock,
        metrics: MetricsSink,
        policy: SelectionPolicy,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._metrics = metrics
        self._policy = policy

    def refresh(self) -> PrimaryRecord | None:
        for _ in range(_BREAKER_WRITE_ATTEMPTS):
            health, breakers, primary = self._repository.snapshot(self._policy.order)
            try:
                return self._apply(health, breakers, primary)
            except ConcurrentUpdate:
                continue
        return self._repository.snapshot(self._policy.order)[2]

    def _apply(
        self,
        health: Mapping[str, HealthRecord],
        breakers: Mapping[str, BreakerState],
        primary: PrimaryRecord | None,
    ) -> PrimaryRecord | None:
        now = self._clock.now()
        election = elect(health, breakers, now, self._policy)
        if primary is not None and primary.name == election.name:
            return primary
        if primary is None:
            # The first election after a deploy is not a failover: no event, no alarm.
            first = PrimaryRecord(election.name, now, "initial election", None, 1)
            self._repository.put_primary(first, 0, [])
            return first
        if primary.name is not None and election.grades.get(primary.name) is None:
            reason = election.describe(primary.name, health, breakers)
        elif election.name is None:
            reason = "no provider usable"
        elif primary.name is None:
            reason = election.describe(election.name, health, breakers)
        else:
            ahead = election.describe(election.name, health, breakers)
            reason = f"{ahead} ranks above {election.describe(primary.name, health, breakers)}"
        switched = PrimaryRecord(election.name, now, reason, primary.name, primary.version + 1)
        event = domain_event(
            "provider:switched",
            ADMIN_CHANNELS,
            {"from": primary.name, "to": election.name, "reason": reason, "at": iso(now)},
            now,
            resource=Resource("provider", "primary"),
        )
        self._repository.put_primary(switched, primary.version, [event])
        self._metrics.count(FAILOVER_METRIC)
        return switched


class HealthCheckService:
    """The scheduled check: probe every provider, record each result, re-elect the primary."""

    def __init__(
        self,
        providers: Mapping[str, StablecoinProvider],
        repository: ProviderHealthRepository,
        clock: Clock,
        metrics: MetricsSink,
        policy: SelectionPolicy | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._repository = repository
        self._clock = clock
        self._policy = policy or SelectionPolicy()
        self._election = PrimaryElection(repository, clock, metrics, self._policy)

    def run(self) -> Overview:
        samples = {name: self._providers[name].health() for name in self._names()}
        now = self._clock.now()
        health, _, _ = self._repository.snapshot(self._names())
        for name, sample in samples.items():
            self._record(name, sample, health.get(name), now)
        self._election.refresh()
        return overview(self._repository, self._policy.order)

    def _names(self) -> tuple[str, ...]:
        return tuple(name for name in self._policy.order if name in self._providers)

    def _record(self, name: str, sample: HealthSample, previous: HealthRecord | None, now: datetime) -> None:
        record = merge_sample(name, sample, previous, now)
        records: list[Record] = []
        before = previous.status.value if previous is not None else None
        if before != record.status.value:
            data = {
                "provider": name,
                "from": before,
                "to": record.status.value,
                "latency_ms": record.latency_ms,
                "error": record.error,
                "at": iso(now),
            }
            records.append(
                domain_event(
                    "provider.statusChange", ADMIN_CHANNELS, data, now, resource=Resource("provider", name)
                )
            )
        try:
            self._repository.put_health(record, previous.version if previous else 0, records)
        except ConcurrentUpdate:
            # An overlapping check recorded first; its sample is as fresh as ours, and one event is enough.
            return


def merge_sample(
    name: str, sample: HealthSample, previous: HealthRecord | None, now: datetime
) -> HealthRecord:
    """The record after one more probe: a sliding window of outcomes, the provider's own figures if any."""
    ok = sample.status is not HealthStatus.DOWN
    samples = ((previous.samples if previous else ()) + (ok,))[-HEALTH_WINDOW:]
    record = HealthRecord(
        name=name,
        status=sample.status,
        latency_ms=sample.latency_ms,
        checked_at=now,
        samples=samples,
        tps=sample.tps,
        error_rate=sample.error_rate,
        error=sample.error,
        version=(previous.version if previous else 0) + 1,
    )
    if record.error_rate is None:
        return replace(record, error_rate=1 - record.success_rate)
    return record
