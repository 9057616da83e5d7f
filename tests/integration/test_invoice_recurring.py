"""Recurring invoices on moto: a schedule on create makes the next invoice (sent, numbered after the rest)
at each period's start, once per period, until `end_after`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
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


# -- auto_pay: the customer's consumer wallet pays the next invoice ----------------------------------------


def _consumer(dynamodb: Any, clock: FixedClock, auto_pay: bool, usdc: int) -> str:
    """`cus_alice` as a consumer of tenant-a holding `usdc` whole USDC, with auto_pay as given."""
    from shared.adapters.dynamodb_consumer import DynamoDBConsumerStore
    from shared.adapters.dynamodb_ledger import DynamoDBLedger
    from shared.adapters.dynamodb_table import put_new
    from shared.consumer.records import Preferences, Profile
    from shared.consumer.service import consumer_wallet_id
    from shared.ledger import movements

    table = get_settings().table_name
    store = DynamoDBConsumerStore(dynamodb, table)
    wallet_id = consumer_wallet_id("tenant-a", "cus_alice")
    profile = Profile("tenant-a", "cus_alice", "alice@example.com", "+14155550101", wallet_id, 1, clock.now())
    dynamodb.transact_write_items(
        TransactItems=[put_new(table, r) for r in store.onboarding_records(profile)]
    )
    store.save_preferences("tenant-a", "cus_alice", Preferences(auto_pay=auto_pay), clock.now())
    if usdc:
        DynamoDBLedger(dynamodb, table).post(
            movements.funding(
                operation_id=f"seed-{wallet_id}",
                wallet_id=wallet_id,
                tenant_id="tenant-a",
                currency="USD",
                token="USDC",
                fiat_amount=usdc * 100,
                created_at=clock.now(),
            )
        )
    return wallet_id


def test_with_auto_pay_on_the_next_invoice_is_paid_from_the_consumer_wallet_once(
    clock: FixedClock, dynamodb: Any
) -> None:
    from shared.adapters.dynamodb_ledger import DynamoDBLedger
    from shared.ledger.accounts import Account

    wallet_id = _consumer(dynamodb, clock, auto_pay=True, usdc=1000)
    create({"interval": "month", "interval_count": 1})
    clock.advance(days=28)
    ran = run_schedule()
    assert (ran["recurring_made"], ran["recurring_auto_paid"]) == (1, 1)
    second = stored(dynamodb)[1]
    assert second["status"]["S"] == "paid"
    total = int(Decimal(second["total_amount"]["N"]) * 10**6)  # USDC minor units
    ledger = DynamoDBLedger(dynamodb, get_settings().table_name)
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == 1000 * 10**6 - total
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == total
    usage = [i for i in scan_all(dynamodb) if i["sk"]["S"].startswith("USAGE#")]
    assert usage and all(int(i["used"]["N"]) == total for i in usage)  # micro-USD, counted on the limit
    paid = [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert [i["event_name"]["S"] for i in paid].count("invoice.paid") == 1
    # Paying the same invoice again (a re-run, a retried run) moves nothing twice.
    from shared.models.invoice import InvoiceStatus

    invoice = bootstrap.app()._invoice_repository.get("tenant-a", second["sk"]["S"].removeprefix("INVOICE#"))
    assert bootstrap.app().pay_requests.pay_from_balance(
        invoice.model_copy(update={"status": InvoiceStatus.SENT, "amount_paid": 0})
    )
    assert run_schedule()["recurring_made"] == 0
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == 1000 * 10**6 - total
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == total


@pytest.mark.parametrize(("auto_pay", "usdc"), [(True, 100), (False, 1000)], ids=["short", "off"])
def test_without_auto_pay_or_enough_balance_the_invoice_is_sent_as_usual(
    clock: FixedClock, dynamodb: Any, auto_pay: bool, usdc: int
) -> None:
    from shared.adapters.dynamodb_ledger import DynamoDBLedger
    from shared.ledger.accounts import Account

    wallet_id = _consumer(dynamodb, clock, auto_pay=auto_pay, usdc=usdc)
    create({"interval": "month", "interval_count": 1})
    clock.advance(days=28)
    ran = run_schedule()
    assert (ran["recurring_made"], ran["recurring_auto_paid"]) == (1, 0)
    assert stored(dynamodb)[1]["status"]["S"] == "sent"
    ledger = DynamoDBLedger(dynamodb, get_settings().table_name)
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == usdc * 10**6
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == 0
    assert [i for i in scan_all(dynamodb) if i["sk"]["S"].startswith("USAGE#")] == []
