"""Where a consumer's money moves: the routing table of deposits (by urgency and amount), the fee table of
transfers out, and the choice of a provider that serves the coin, all as data read by one function each.

The provider order for consumers is Tempo, then Circle (API.md); a row may put a provider first for its band
(a large deposit that is not urgent goes to Circle's regulated mint first). Circle serves USDC and EURC only
(shared/consumer/providers.py SERVES): a coin no usable provider serves is 503 `provider_unavailable`
before anything is charged or moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from shared.clock import Clock
from shared.consumer.providers import SERVES
from shared.errors import ProviderUnavailable
from shared.providers.models import CIRCLE, TEMPO
from shared.providers.port import ProviderHealthRepository, StablecoinProvider
from shared.providers.selection import SelectionPolicy, elect

_DOLLARS = 10**6  # micro-USD, as limits count


@dataclass(frozen=True)
class DepositRoute:
    """Deposits of `urgency` up to `up_to_usd` micro-USD (None: no upper bound) mint at the first usable
    provider of `order` that serves the coin."""

    urgency: str
    up_to_usd: int | None
    order: tuple[str, ...]


# First matching row wins; rows of one urgency ascend by amount and end with an unbounded one.
DEPOSIT_ROUTES: tuple[DepositRoute, ...] = (
    DepositRoute("instant", None, (TEMPO, CIRCLE)),
    DepositRoute("standard", 10_000 * _DOLLARS, (TEMPO, CIRCLE)),
    DepositRoute("standard", None, (CIRCLE, TEMPO)),
)

# What the platform charges on a transfer out to an outside address, per provider, in token minor units
# (6 decimals): the provider's network cost passed on, kept on the tenant's fee account.
TRANSFER_OUT_FEES: dict[str, int] = {TEMPO: 10_000, CIRCLE: 250_000}
CONSUMER_ORDER: tuple[str, ...] = (TEMPO, CIRCLE)


def deposit_route(urgency: str, usd_micro: int) -> DepositRoute:
    for route in DEPOSIT_ROUTES:
        if route.urgency == urgency and (route.up_to_usd is None or usd_micro <= route.up_to_usd):
            return route
    raise ValueError(f"no deposit route for urgency {urgency!r}")  # the table covers every urgency


class ProviderChooser:
    """The usable provider, from RECORDED health and breakers (shared.providers.selection), among those of
    an order that serve a coin."""

    def __init__(
        self,
        providers: Callable[[], Mapping[str, StablecoinProvider]],
        health: ProviderHealthRepository,
        clock: Clock,
        policy: SelectionPolicy | None = None,
    ) -> None:
        self._providers = providers
        self._health = health
        self._clock = clock
        self._policy = policy or SelectionPolicy()

    def candidates(self, coin: str, order: tuple[str, ...] = CONSUMER_ORDER) -> list[str]:
        """Every provider of `order` serving `coin` that may be called now, best first."""
        configured = self._providers()
        names = tuple(n for n in order if coin in SERVES.get(n, ()) and n in configured)
        left: list[str] = []
        health, breakers, _ = self._health.snapshot(names) if names else ({}, {}, None)
        while names:
            chosen = elect(health, breakers, self._clock.now(), replace(self._policy, order=names)).name
            if chosen is None:
                break
            left.append(chosen)
            names = tuple(n for n in names if n != chosen)
        return left

    def choose(self, coin: str, order: tuple[str, ...] = CONSUMER_ORDER) -> str:
        found = self.candidates(coin, order)
        if not found:
            raise ProviderUnavailable(f"no usable provider serves {coin} now; nothing was moved")
        return found[0]

    def provider(self, name: str) -> StablecoinProvider:
        return self._providers()[name]
