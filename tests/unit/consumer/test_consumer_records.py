"""Consumer arithmetic and grammar: UTC windows, USD value, amount formats, rates, the consumer channel."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.adapters.rates import ConfiguredRates, parse_rates
from shared.clock import FixedClock
from shared.consumer.records import KYC_LEVELS, format_token, format_usd, usd_micro, windows_at
from shared.consumer.service import consumer_wallet_id
from shared.errors import DependencyUnavailable, ValidationFailed
from shared.models.consumer import Onboard, Transfer
from shared.realtime.channels import ChannelKind, parse_channel
from shared.realtime.ports import Viewer


def test_windows_are_the_utc_day_and_month() -> None:
    day, month = windows_at(datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert (day.key, day.resets_at) == ("2030-12-31", datetime(2031, 1, 1, tzinfo=UTC))
    assert (month.key, month.resets_at) == ("2030-12", datetime(2031, 1, 1, tzinfo=UTC))
    day, month = windows_at(datetime(2032, 2, 29, 0, 0, tzinfo=UTC))
    assert month.resets_at == datetime(2032, 3, 1, tzinfo=UTC) and day.counter_id == "daily#2032-02-29"


def test_levels_match_the_contract() -> None:
    dollars = {n: (lvl.daily_limit // 10**6, lvl.monthly_limit // 10**6) for n, lvl in KYC_LEVELS.items()}
    assert dollars == {1: (1_000, 30_000), 2: (50_000, 1_500_000), 3: (250_000, 7_500_000)}


@given(st.integers(min_value=1, max_value=10**15), st.decimals(min_value="0.01", max_value="10", places=4))
def test_usd_value_never_rounds_down(amount: int, rate: Decimal) -> None:
    assert Decimal(usd_micro(amount, rate)) >= Decimal(amount) * rate > Decimal(usd_micro(amount, rate) - 1)


def test_formats() -> None:
    assert format_token(120_500_000) == "120.50" and format_token(1) == "0.000001"
    assert format_token(10_000_001) == "10.000001" and format_usd(108_500_000) == "108.50"


def test_rates_come_from_configuration_or_refuse() -> None:
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    rates = ConfiguredRates("EUR=1.0850@2030-01-01T00:00:00Z", clock)
    assert rates.usd_rate("EUR").usd == Decimal("1.0850") and rates.usd_rate("USD").usd == 1
    with pytest.raises(DependencyUnavailable):
        ConfiguredRates("", clock).usd_rate("EUR")
    for bad in (
        "EUR=abc@2030-01-01T00:00:00Z",
        "EUR=1.1@2030-01-01",
        "eur=1@2030-01-01T00:00:00Z",
        "EUR=-1@x",
    ):
        with pytest.raises(ValueError):
            parse_rates(bad)


def test_request_models_refuse_bad_coins_decimals_and_phones() -> None:
    assert Transfer.model_validate({"to": "x", "amount": "0.000001"}).currency == "USDC"
    for body in (
        {"to": "x", "amount": "1", "currency": "DOGE"},
        {"to": "x", "amount": "0.0000001"},
        {"to": "x", "amount": 1.5},
    ):
        with pytest.raises(ValidationError):
            Transfer.model_validate(body)
    assert Onboard.model_validate({"email": "A@B.co", "phone": "+447700900123"}).email == "a@b.co"
    with pytest.raises(ValidationError):
        Onboard.model_validate({"email": "a@b.co", "phone": "+44 7700 900123"})


def test_one_wallet_id_per_person_of_a_tenant() -> None:
    assert consumer_wallet_id("t", "u") == consumer_wallet_id("t", "u")
    assert consumer_wallet_id("t", "u") != consumer_wallet_id("t2", "u")


def test_consumer_channel_resolves_to_the_viewer() -> None:
    channel = parse_channel("consumer")
    assert channel.kind is ChannelKind.CONSUMER and channel.resource_id is None
    viewer = Viewer("usr_a@x", "t", frozenset({"consumer"}))
    assert channel.for_viewer(viewer).name == "consumer:usr_a@x"
    assert parse_channel("consumer:usr_b").for_viewer(viewer).name == "consumer:usr_a@x"
    with pytest.raises(ValidationFailed):
        parse_channel("consumer:#bad")
