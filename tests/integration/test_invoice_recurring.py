"""Recurring invoices on moto: a schedule on create makes the next invoice (sent, numbered after the rest)
at each period's start, once per period, until `end_after`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared import bootstrap
from shared.api import parse_json
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.invoices.periods import add_months
from shared.models.invoice import InvoiceCreate
from tests.integration.conftest import FakeLambdaContext, scan_all
from tests.integration.test_invoices_api import VALID

MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))
SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


@pytest.fixture
def clock(dynamodb: Any) -> Iterator[FixedClock]:
    moment = FixedClock(datetime(2030, 1, 31, 9, tzinfo=UTC))
    bootstrap.use(Adapters(get_settings(), dynamodb=dynamodb, clock=moment))
    yield moment


def run_schedule() -> dict[str, Any]:
    import functions.invoice_schedules.handler as handler

    return dict(handler.lambda_handler(SCHEDULED, FakeLambdaContext(function_name="invoice_schedules")))


def create(recurring: Any) -> str:
    body = {**VALID, "due_date": "2030-02-14", "recurring": recurring}
    return (
        bootstrap.app()
        .invoices.create(MERCHANT, InvoiceCreate.model_validate(parse_json(json.dumps(body))))
        .id
    )


def stored(dynamodb: Any) -> list[dict[str, Any]]:
    items = [i for i in scan_all(dynamodb) if i["sk"]["S"].startswith("INVOICE#")]
    return sorted(items, key=lambda i: i["number"]["S"])


def test_a_monthly_series_makes_each_next_invoice_once_until_it_ends(
    clock: FixedClock, dynamodb: Any
) -> None:
    first = create({"interval": "month", "interval_count": 1, "end_after": 3})
    assert run_schedule()["recurring_made"] == 0
    clock.advance(days=27, hours=23)  # 2030-02-28T08:00: a month from Jan 31 is Feb 28, 09:00
    assert run_schedule()["recurring_made"] == 0
    clock.advance(hours=1)
    assert run_schedule()["recurring_made"] == 1
    assert run_schedule()["recurring_made"] == 0  # once per period
    invoices = stored(dynamodb)
    assert [i["number"]["S"] for i in invoices] == ["INV-00001", "INV-00002"]
    second = invoices[1]
    assert second["status"]["S"] == "sent"
    assert second["due_date"]["S"] == "2030-03-14"
    assert second["metadata"]["M"]["recurring_from"]["S"] == first
    assert second["total_amount"] == invoices[0]["total_amount"]
    assert second["amount_paid"]["N"] == "0"
    clock.advance(days=31)  # past 2030-03-28
    assert run_schedule()["recurring_made"] == 1
    clock.advance(days=62)
    assert run_schedule()["recurring_made"] == 0  # end_after 3: the series has ended
    assert [i["due_date"]["S"] for i in stored(dynamodb)] == ["2030-02-14", "2030-03-14", "2030-04-14"]
    assert [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("RECURRING#")] == []
    sent = [
        i
        for i in scan_all(dynamodb)
        if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"] == "invoice.sent"
    ]
    assert len(sent) == 2


def test_a_plain_invoice_or_recurring_true_makes_no_series(clock: FixedClock, dynamodb: Any) -> None:
    create(True)
    create(False)
    clock.advance(days=400)
    assert run_schedule()["recurring_made"] == 0
    assert len(stored(dynamodb)) == 2


def test_month_arithmetic_clamps_to_the_month_end() -> None:
    assert add_months(date(2030, 1, 31), 1) == date(2030, 2, 28)
    assert add_months(date(2032, 1, 31), 1) == date(2032, 2, 29)
    assert add_months(date(2030, 11, 30), 3) == date(2031, 2, 28)
