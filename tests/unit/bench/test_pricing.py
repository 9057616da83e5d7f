"""The cost bench's arithmetic: prices x measured usage, DynamoDB request units, Lambda GB-seconds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.pricing import (
    chunks,
    cost_lines,
    item_size,
    lambda_gb_seconds,
    load_prices,
    parse_prices,
    read_units,
    total,
    write_units,
)

PRICES = parse_prices(
    {
        "as_of": "2026-12-01",
        "region": "us-east-1",
        "prices": {
            "lambda_gb_seconds": {"label": "GB-s", "usd": 0.0000133334, "per": 1, "unit": "s", "source": "x"},
            "lambda_requests": {"label": "req", "usd": 0.2, "per": 1000000, "unit": "request", "source": "x"},
            "kms_requests": {"label": "kms", "usd": 0.03, "per": 10000, "unit": "request", "source": "x"},
        },
    }
)


def test_a_line_is_quantity_times_price_over_its_unit_count() -> None:
    lines = cost_lines({"lambda_requests": 5, "kms_requests": 2}, PRICES)
    by_key = {line.key: line.usd for line in lines}
    assert by_key == {"lambda_requests": Decimal("0.000001"), "kms_requests": Decimal("0.000006")}
    assert total(lines) == Decimal("0.000007")


def test_lines_come_largest_first() -> None:
    lines = cost_lines({"lambda_requests": 5, "kms_requests": 2, "lambda_gb_seconds": "0.5"}, PRICES)
    assert [line.key for line in lines] == ["lambda_gb_seconds", "kms_requests", "lambda_requests"]
    assert lines[0].usd == Decimal("0.0000066667")


def test_an_unpriced_usage_is_refused_rather_than_dropped() -> None:
    with pytest.raises(KeyError, match="sqs_requests"):
        cost_lines({"sqs_requests": 1}, PRICES)


def test_the_price_file_prices_every_part_with_a_date_and_a_source() -> None:
    prices = load_prices()
    assert prices.as_of and prices.region == "us-east-1"
    assert prices.prices["dynamodb_write_units"].cost(Decimal(1_000_000)) == Decimal("0.625")
    assert prices.prices["lambda_gb_seconds"].usd == Decimal("0.0000133334")
    assert all(price.source.startswith("https://") for price in prices.prices.values())


def test_lambda_bills_memory_times_duration_rounded_up_to_the_millisecond() -> None:
    assert lambda_gb_seconds(512, 100.2) == Decimal("0.0505")  # 0.5 GB x 0.101 s
    assert lambda_gb_seconds(1024, 0.3) == Decimal("0.001")


def test_write_units_are_per_kb_started_and_doubled_in_a_transaction() -> None:
    assert write_units(10) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(3000, transactional=True) == 6


def test_read_units_are_per_4kb_by_consistency() -> None:
    assert read_units(0) == Decimal(1)  # a missing item still costs a read
    assert read_units(4096, "eventual") == Decimal("0.5")
    assert read_units(8193, "strong") == Decimal(3)
    assert read_units(100, "transactional") == Decimal(2)


def test_payload_chunks() -> None:
    assert chunks(10, 64 * 1024) == 1
    assert chunks(64 * 1024 + 1, 64 * 1024) == 2


def test_item_size_counts_names_and_values_in_either_form() -> None:
    typed = {
        "pk": {"S": "INV#1"},
        "n": {"N": "12345"},
        "ok": {"BOOL": True},
        "m": {"M": {"a": {"S": "xy"}}},
        "l": {"L": [{"S": "z"}]},
    }
    # pk 2+5, n 1+(3+1), ok 2+1, m 1+(3+1+2+1), l 1+(3+1+1)
    assert item_size(typed) == 7 + 5 + 3 + 8 + 6
    plain = {"pk": "INV#1", "n": Decimal("12345"), "ok": True, "m": {"a": "xy"}, "l": ["z"]}
    assert item_size(plain) == item_size(typed)
