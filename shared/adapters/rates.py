"""ExchangeRates from configuration: the rates an operator sets (`USD_RATES`), each with its publication time.

No market-data service is reachable from this project's environments, so the deployed stack reads the rate
its operators publish to the function's configuration (and a missing rate is a 503, never a guess); the local
runtime configures a fixed EUR rate. A live source slots in behind the same port.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from shared.clock import Clock
from shared.consumer.ports import Rate
from shared.errors import DependencyUnavailable


def parse_rates(text: str) -> dict[str, Rate]:
    """`EUR=1.0850@2030-01-01T00:00:00Z,GBP=...` as rates; ValueError for anything malformed."""
    rates: dict[str, Rate] = {}
    for part in filter(None, (chunk.strip() for chunk in text.split(","))):
        code, _, rest = part.partition("=")
        number, _, published = rest.partition("@")
        try:
            usd = Decimal(number)
        except InvalidOperation as exc:
            raise ValueError(f"USD_RATES: {part!r} has no decimal rate") from exc
        as_of = datetime.fromisoformat(published.replace("Z", "+00:00"))
        if len(code) != 3 or not code.isupper() or not usd.is_finite() or usd <= 0 or as_of.tzinfo is None:
            raise ValueError(f"USD_RATES: {part!r} is not CODE=rate@ISO-8601 with a zone")
        rates[code] = Rate(code, usd, as_of)
    return rates


class ConfiguredRates:
    def __init__(self, text: str, clock: Clock) -> None:
        self._rates = parse_rates(text)
        self._clock = clock

    def usd_rate(self, currency: str) -> Rate:
        if currency == "USD":
            return Rate("USD", Decimal(1), self._clock.now())
        rate = self._rates.get(currency)
        if rate is None:
            raise DependencyUnavailable(f"no USD rate for {currency} is configured")
        return rate
