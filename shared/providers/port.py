"""The ports of the providers slice: one StablecoinProvider per provider, its health store and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.outbox.records import Record
from shared.providers.models import Asset, HealthSample, ProviderTx, SwapResult, Transfer
from shared.providers.state import BreakerState, HealthRecord, PrimaryRecord


class StablecoinProvider(Protocol):
    """A stablecoin issuer or chain. Amounts are minor units of `asset` (6 decimals).

    Every mutation takes the caller's idempotency key: the same key with the same arguments is the same
    operation at the provider, however many times it is sent. Outages, timeouts and 5xx raise
    ProviderCallFailed (a ProviderUnavailable); refusals (4xx) raise ProviderRejected.
    """

    @property
    def name(self) -> str: ...

    def create_address(self, wallet_id: str) -> str:
        """A deposit address for the wallet; asking twice for one wallet gives the same address."""
        ...

    def mint(self, asset: Asset, amount_minor: int, to_address: str, idempotency_key: str) -> ProviderTx: ...

    def burn(
        self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str
    ) -> ProviderTx: ...

    def transfer(
        self, asset: Asset, amount_minor: int, from_address: str, to_address: str, idempotency_key: str
    ) -> ProviderTx: ...

    def batch_transfer(
        self, asset: Asset, transfers: Sequence[Transfer], from_address: str, idempotency_key: str
    ) -> ProviderTx: ...

    def swap(
        self, from_asset: Asset, to_asset: Asset, amount_minor: int, address: str, idempotency_key: str
    ) -> SwapResult: ...

    def balance(self, asset: Asset, address: str) -> int: ...

    def total_supply(self, asset: Asset) -> int: ...

    def health(self) -> HealthSample:
        """A quick probe with a short timeout; never raises: an unreachable provider is a `down` sample."""
        ...


class ProviderHealthRepository(Protocol):
    """Recorded health, breakers and the primary. Writes are conditional on the version read.

    A write whose version moved on raises errors.ConcurrentUpdate; `records` (outbox items) commit in the
    same transaction as the state they describe.
    """

    def snapshot(
        self, names: Sequence[str]
    ) -> tuple[dict[str, HealthRecord], dict[str, BreakerState], PrimaryRecord | None]:
        """Health and breaker of each named provider (missing ones left out) and the primary: one read."""
        ...

    def put_health(self, record: HealthRecord, expected_version: int, records: list[Record]) -> None: ...

    def put_breaker(self, state: BreakerState, expected_version: int) -> None: ...

    def put_primary(self, primary: PrimaryRecord, expected_version: int, records: list[Record]) -> None: ...


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history: each check as its HealthRecord, each primary change as its PrimaryRecord."""

    items: list[HealthRecord | PrimaryRecord]
    next_cursor: str | None


class ProviderHistory(Protocol):
    """Every recorded check and primary change, kept beside the current state by the same writes."""

    def history(self, limit: int, cursor: str | None) -> HistoryPage:
        """Newest first; a cursor this repository did not issue is ValidationFailed."""
        ...


class MetricsSink(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...
