"""Invoice arithmetic and the status machine, without any I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidState
from shared.models.invoice import (
    InvoiceStatus,
    LineItemInput,
    ensure_deletable,
    next_status,
    price_lines,
)
from shared.money import format_amount, parse_amount

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000"), places=2)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=4)
items = st.builds(
    LineItemInput,
    description=st.just("item"),
    quantity=st.integers(min_value=1, max_value=1000),
    unit_price=prices,
    tax_rate=st.one_of(st.none(), rates),
)


@given(st.lists(items, min_size=1, max_size=20))
def test_totals_add_up_exactly_in_cents(lines: list[LineItemInput]) -> None:
    priced = price_lines(lines, "USD")
    assert priced.subtotal == sum(item.unit_price * item.quantity for item in lines)
    assert priced.total == priced.subtotal + priced.tax_amount
    assert priced.tax_amount == sum(line.tax_amount for line in priced.lines)
    for line, item in zip(priced.lines, lines, strict=True):
        exact = item.unit_price * item.quantity * (item.tax_rate or 0) / 100
        assert abs(line.tax_amount - exact) <= Decimal("0.005")
        assert line.tax_amount.as_tuple().exponent == -2


@given(prices)
def test_amounts_format_as_two_decimal_strings(price: Decimal) -> None:
    text = format_amount(price)
    assert Decimal(text) == price and len(text.split(".")[1]) == 2


def test_tax_rounds_half_up_per_line() -> None:
    line = LineItemInput(description="x", quantity=1, unit_price=Decimal("0.10"), tax_rate=Decimal(5))
    assert price_lines([line, line], "USD").tax_amount == Decimal("0.02")  # 0.005 -> 0.01 on each line


def test_zero_decimal_currency_rounds_to_units() -> None:
    line = LineItemInput(description="x", quantity=3, unit_price=Decimal(333), tax_rate=Decimal("10"))
    priced = price_lines([line], "JPY")
    assert (priced.subtotal, priced.tax_amount, priced.total) == (Decimal(999), Decimal(100), Decimal(1099))


@pytest.mark.parametrize("value", [100, "100.50", Decimal("0.01"), "1000000000"])
def test_parse_amount_accepts(value: object) -> None:
    assert parse_amount(value) > 0


@pytest.mark.parametrize(
    "value", [0, -1, "0.001", 1.5, True, None, "NaN", "Infinity", "1e3", "", "1000000000.01", Decimal("NaN")]
)
def test_parse_amount_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(value)


ALL = set(InvoiceStatus)


@pytest.mark.parametrize(
    ("action", "allowed", "target"),
    [
        ("send", {InvoiceStatus.DRAFT}, InvoiceStatus.SENT),
        (
            "void",
            {InvoiceStatus.DRAFT, InvoiceStatus.SENT, InvoiceStatus.OVERDUE, InvoiceStatus.PARTIALLY_PAID},
            InvoiceStatus.VOID,
        ),
    ],
)
def test_status_machine(action: str, allowed: set[InvoiceStatus], target: InvoiceStatus) -> None:
    for status in allowed:
        assert next_status(status, action) is target
    for status in ALL - allowed:
        with pytest.raises(InvalidState):
            next_status(status, action)


def test_only_draft_and_void_are_deletable() -> None:
    for status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
        ensure_deletable(status)
    for status in ALL - {InvoiceStatus.DRAFT, InvoiceStatus.VOID}:
        with pytest.raises(InvalidState):
            ensure_deletable(status)
