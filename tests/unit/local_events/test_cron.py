"""rate(), at() and AWS cron() expressions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from local.runtime.schedules import Cron, Recurrence, parse_at, parse_rate


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def utc(epoch: float | None) -> str:
    assert epoch is not None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M")


def test_rate() -> None:
    assert parse_rate("rate(1 minute)") == 60
    assert parse_rate("rate(5 minutes)") == 300
    assert parse_rate("rate(2 hours)") == 7200
    assert parse_rate("rate(1 day)") == 86400
    for bad in ("rate(0 minutes)", "rate(1 week)", "rate(minutes)"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_rate_recurrence_counts_from_its_anchor() -> None:
    every = Recurrence("rate(1 minute)", anchor=1000.0)
    assert every.next_after(1000.0) == 1060.0
    assert every.next_after(1059.9) == 1060.0
    assert every.next_after(1060.0) == 1120.0


def test_at_reads_the_timezone() -> None:
    assert parse_at("at(2026-11-25T15:30:00)", "UTC") == ts("2026-11-25T15:30:00")
    assert parse_at("at(2026-11-25T15:30:00)", "Europe/Paris") == ts("2026-11-25T14:30:00")
    with pytest.raises(ValueError):
        parse_at("at(2026-11-25 15:30)", "UTC")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 10 * * ? *)", "2026-11-25T09:00", "2026-11-25T10:00"),
        ("cron(0 10 * * ? *)", "2026-11-25T10:00", "2026-11-26T10:00"),
        ("cron(*/15 * * * ? *)", "2026-11-25T10:07", "2026-11-25T10:15"),
        ("cron(0 18 ? * MON-FRI *)", "2026-11-27T19:00", "2026-11-30T18:00"),  # Fri evening -> Monday
        ("cron(0 8 1 * ? *)", "2026-11-25T00:00", "2026-12-01T08:00"),
        ("cron(0 0 L * ? *)", "2026-02-01T00:00", "2026-02-28T00:00"),
        ("cron(0 0 15W * ? *)", "2026-08-01T00:00", "2026-08-14T00:00"),  # the 15th is a Saturday
        ("cron(0 0 LW * ? *)", "2026-05-01T00:00", "2026-05-29T00:00"),  # May 31 2026 is a Sunday
        ("cron(0 12 ? * 6#3 *)", "2026-11-01T00:00", "2026-11-20T12:00"),  # third Friday
        ("cron(0 12 ? * 6L *)", "2026-11-01T00:00", "2026-11-27T12:00"),  # last Friday
        ("cron(0 9 ? * 1 *)", "2026-11-25T00:00", "2026-11-29T09:00"),  # 1 = Sunday
        ("cron(30 6 1 JAN ? 2027)", "2026-11-25T00:00", "2027-01-01T06:30"),
        ("cron(0 0,12 * * ? *)", "2026-11-25T01:00", "2026-11-25T12:00"),
    ],
)
def test_cron_next(expression: str, after: str, expected: str) -> None:
    assert utc(Cron(expression).next_after(ts(after))) == expected


def test_cron_in_a_timezone() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert utc(Cron("cron(0 10 * * ? *)").next_after(ts("2026-11-25T00:00"), paris)) == "2026-11-25T09:00"


def test_cron_in_the_past_years_never_fires() -> None:
    assert Cron("cron(0 0 1 1 ? 2020)").next_after(ts("2026-01-01T00:00")) is None


@pytest.mark.parametrize(
    "bad",
    ["cron(0 10 * * * *)", "cron(0 10 ? * ? *)", "cron(61 * * * ? *)", "cron(0 10 * *)", "rate(1 minute)"],
)
def test_cron_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Cron(bad)
