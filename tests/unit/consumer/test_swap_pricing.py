"""Swap pricing, property-based: what leaves the wallet is exactly the burned amount and the fee, the burned
and minted amounts are whole cents of their backing currencies (so the reserve, kept in cents, moves exactly
as the supply does), the fee is never below its rate, and the consumer never gets more than the rate gives."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import FixedClock
from shared.consumer.ports import Rate
from shared.consumer.records import Profile
from shared.consumer.swaps import SWAP_FEE_BPS, SwapService
from shared.errors import ValidationFailed

NOW = datetime(2030, 1, 15, tzinfo=UTC)
PROFILE = Profile("t", "u", "u@example.com", "+14155550100", "wal_x", 1, NOW)


class Rates:
    def __init__(self, eur: Decimal) -> None:
        self.eur = eur

    def usd_rate(self, currency: str) -> Rate:
        return Rate(currency, self.eur if currency == "EUR" else Decimal(1), NOW)


def service(eur: Decimal) -> SwapService:
    unused: Any = None
    return SwapService(unused, unused, unused, unused, Rates(eur), unused, unused, FixedClock(NOW))


COINS = ("USDC", "USDT", "PYUSD", "USDB", "EURC")


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(min_value=1, max_value=10**15),
    eur=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("2"), places=4),
    pair=st.tuples(st.sampled_from(COINS), st.sampled_from(COINS)).filter(lambda p: p[0] != p[1]),
)
def test_a_quote_keeps_the_reserve_in_whole_cents_and_charges_no_less_than_the_fee(
    amount: int, eur: Decimal, pair: tuple[str, str]
) -> None:
    try:
        quote = service(eur)._priced(PROFILE, pair[0], pair[1], amount)
    except ValidationFailed:
        # Only dust is refused: from 0.04 on (any rate here is at least 0.5) a cent is left on both sides.
        assert amount < 40_000
        return
    assert quote.burned + quote.fee == amount
    assert quote.burned % 10_000 == 0 and quote.to_amount % 10_000 == 0
    assert quote.burned > 0 and quote.to_amount > 0
    assert quote.fee * 10_000 >= amount * SWAP_FEE_BPS
    assert quote.fee < amount * SWAP_FEE_BPS / 10_000 + 10_001
    assert Decimal(quote.to_amount) <= Decimal(quote.burned) * quote.rate


def test_the_same_coin_and_dust_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        service(Decimal("1.085"))._priced(PROFILE, "USDC", "USDC", 10**6)
    with pytest.raises(ValidationFailed):
        service(Decimal("1.085"))._priced(PROFILE, "USDC", "EURC", 10_000)
