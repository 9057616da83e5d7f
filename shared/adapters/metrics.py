"""Powertools metrics behind the domain's metric ports (providers' MetricsSink, DestructionMetrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    # Types only: the ports module pulls in the funding, ledger and invoice models, which the wallet-making
    # function (record_wallet_creation) would otherwise load at init for nothing.
    from shared.destruction.triggers import DestructionReason, Trigger
    from shared.wallets.service import WalletView


class CountMetrics:
    """The providers' MetricsSink: plain counts on the function's Metrics."""

    def __init__(self, sink: Metrics) -> None:
        self._sink = sink

    def count(self, name: str, value: int = 1) -> None:
        self._sink.add_metric(name=name, unit=MetricUnit.Count, value=value)


class CloudWatchDestructionMetrics:
    """Destroyed wallets by reason, and every delay from `expires_at` to destroyed by trigger: EMF keeps
    each value, so CloudWatch has the distribution (percentiles) of the delay, not only its mean."""

    def destroyed(self, reason: DestructionReason, trigger: Trigger, delay_seconds: float | None) -> None:
        with single_metric(name="WalletsDestroyed", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="reason", value=reason.value)
        if delay_seconds is not None:
            milliseconds = max(0.0, delay_seconds) * 1000
            with single_metric(
                name="DestructionDelayMs", unit=MetricUnit.Milliseconds, value=milliseconds
            ) as m:
                m.add_dimension(name="trigger", value=trigger.value)


class PowertoolsReserveMetrics:
    """EMF metrics in the stack's namespace; the `ReserveDiscrepancy` alarm fires on any value above 0."""

    def __init__(self, sink: Metrics | None = None) -> None:
        self._sink = sink or Metrics()

    def discrepancy(self, gap: int) -> None:
        self._sink.add_metric(name="ReserveDiscrepancy", unit=MetricUnit.Count, value=gap)

    def unverified_supply(self, tokens: int) -> None:
        self._sink.add_metric(name="ReserveSupplyUnverified", unit=MetricUnit.Count, value=tokens)


def record_wallet_creation(view: WalletView) -> None:
    """A new wallet by mode, and its TTL (a returned existing wallet counts nothing)."""
    if not view.is_new:
        return
    with single_metric(name="WalletsCreated", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="mode", value=view.wallet.wallet_type.value)
    if view.wallet.ttl_seconds is not None:
        Metrics().add_metric(name="WalletTtlSeconds", unit=MetricUnit.Seconds, value=view.wallet.ttl_seconds)
