"""In-memory fakes of the providers slice's ports, with the same version checks as the table adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConcurrentUpdate
from shared.providers.models import Asset, HealthSample, HealthStatus, ProviderTx, SwapResult, Transfer
from shared.providers.state import BreakerState, HealthRecord, PrimaryRecord
from tests.support.events import as_items


@dataclass
class MemoryHealthRepository:
    health: dict[str, HealthRecord] = field(default_factory=dict)
    breakers: dict[str, BreakerState] = field(default_factory=dict)
    primary: PrimaryRecord | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(
        self, names: Sequence[str]
    ) -> tuple[dict[str, HealthRecord], dict[str, BreakerState], PrimaryRecord | None]:
        health = {n: r for n, r in self.health.items() if n in names}
        breakers = {n: b for n, b in self.breakers.items() if n in names}
        return health, breakers, self.primary

    @staticmethod
    def _check(current: int, expected: int) -> None:
        if current != expected:
            raise ConcurrentUpdate("version moved on")

    def put_health(self, record: HealthRecord, expected_version: int, records: list[dict[str, Any]]) -> None:
        previous = self.health.get(record.name)
        self._check(previous.version if previous else 0, expected_version)
        self.health[record.name] = record
        self.outbox += as_items(records)

    def put_breaker(self, state: BreakerState, expected_version: int) -> None:
        previous = self.breakers.get(state.name)
        self._check(previous.version if previous else 0, expected_version)
        self.breakers[state.name] = state

    def put_primary(
        self, primary: PrimaryRecord, expected_version: int, records: list[dict[str, Any]]
    ) -> None:
        self._check(self.primary.version if self.primary else 0, expected_version)
        self.primary = primary
        self.outbox += as_items(records)


@dataclass
class CountingMetrics:
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


@dataclass
class ScriptedProvider:
    """A provider whose health is set by the test; mints succeed or raise what the test queued."""

    provider_name: str
    sample: HealthSample = field(default_factory=lambda: HealthSample(HealthStatus.HEALTHY, 40))
    failures: list[Exception] = field(default_factory=list)
    minted: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.provider_name

    def health(self) -> HealthSample:
        return self.sample

    def mint(self, asset: Asset, amount_minor: int, to_address: str, idempotency_key: str) -> ProviderTx:
        if self.failures:
            raise self.failures.pop(0)
        self.minted.append(idempotency_key)
        return ProviderTx(
            self.provider_name, "tx1", "0xabc", "confirmed", asset, amount_minor, idempotency_key
        )

    def create_address(self, wallet_id: str) -> str:
        raise NotImplementedError

    def burn(self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str) -> ProviderTx:
        raise NotImplementedError

    def transfer(
        self, asset: Asset, amount_minor: int, from_address: str, to_address: str, idempotency_key: str
    ) -> ProviderTx:
        raise NotImplementedError

    def batch_transfer(
        self, asset: Asset, transfers: Sequence[Transfer], from_address: str, idempotency_key: str
    ) -> ProviderTx:
        raise NotImplementedError

    def swap(
        self, from_asset: Asset, to_asset: Asset, amount_minor: int, address: str, idempotency_key: str
    ) -> SwapResult:
        raise NotImplementedError

    def balance(self, asset: Asset, address: str) -> int:
        raise NotImplementedError

    def total_supply(self, asset: Asset) -> int:
        raise NotImplementedError
