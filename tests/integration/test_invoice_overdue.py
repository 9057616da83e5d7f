"""Overdue invoices on moto: the scheduled run marks sent and partially paid invoices whose due date ended
(UTC) overdue, once, with `invoice.overdue` on the invoice and admin channels, by Query (never a Scan)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import bootstrap
from shared.api import parse_json
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.models.invoice import InvoiceCreate
from tests.integration.conftest import TABLE, FakeLambdaContext, scan_all
from tests.integration.test_invoices_api import VALID

MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))
SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


class RecordingClient:
    """The moto client, remembering which operations were called."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2030, 1, 1, 12, tzinfo=UTC))


@pytest.fixture
def client(dynamodb: Any, clock: FixedClock) -> Iterator[RecordingClient]:
    recording = RecordingClient(dynamodb)
    bootstrap.use(Adapters(get_settings(), dynamodb=recording, clock=clock))
    yield recording


def sent_invoice(due_date: str = "2030-01-31") -> str:
    invoices = bootstrap.app().invoices
    request = InvoiceCreate.model_validate(parse_json(json.dumps({**VALID, "due_date": due_date})))
    invoice = invoices.create(MERCHANT, request)
    invoices.send(MERCHANT, invoice.id)
    return invoice.id


def run_schedule() -> dict[str, Any]:
    import functions.invoice_schedules.handler as handler

    return dict(handler.lambda_handler(SCHEDULED, FakeLambdaContext(function_name="invoice_schedules")))


def status_of(invoice_id: str) -> str:
    return bootstrap.app().invoices.get(MERCHANT, invoice_id).status.value


def events(client: Any, name: str) -> list[dict[str, Any]]:
    items = [i for i in scan_all(client._client) if i["pk"]["S"].startswith("OUTBOX#")]
    return [i for i in items if i["event_name"]["S"] == name]


def markers(client: Any) -> list[dict[str, Any]]:
    return [i for i in scan_all(client._client) if i["pk"]["S"].startswith("INVOICEDUE#")]


def test_an_unpaid_invoice_turns_overdue_once_its_due_date_has_ended(
    client: RecordingClient, clock: FixedClock
) -> None:
    invoice_id = sent_invoice("2030-01-31")
    draft = bootstrap.app().invoices.create(
        MERCHANT, InvoiceCreate.model_validate(parse_json(json.dumps({**VALID, "due_date": "2030-01-02"})))
    )
    assert len(markers(client)) == 1  # drafts owe nothing yet: only the sent invoice is indexed
    clock.advance(days=30, hours=11, minutes=59)  # 2030-01-31T23:59 UTC: the due date has not ended
    assert run_schedule()["overdue"] == 0
    assert status_of(invoice_id) == "sent"
    clock.advance(minutes=1)  # 2030-02-01T00:00 UTC
    client.calls.clear()
    assert run_schedule() == {
        "overdue": 1,
        "settled": 0,
        "deferred": 0,
        "recurring_made": 0,
        "recurring_auto_paid": 0,
    }
    assert "scan" not in client.calls and "query" in client.calls
    assert status_of(invoice_id) == "overdue"
    assert status_of(draft.id) == "draft"
    [event] = events(client, "invoice.overdue")
    assert event["channels"]["L"] == [{"S": f"invoice:{invoice_id}"}, {"S": "admin"}]
    assert event["data"]["M"]["status"]["S"] == "overdue"
    audit = [i for i in scan_all(client._client) if i["pk"]["S"] == f"AUDIT#{invoice_id}"]
    assert [a["action"]["S"] for a in audit][-1] == "invoice.overdue"
    assert markers(client) == []
    assert run_schedule()["overdue"] == 0
    assert len(events(client, "invoice.overdue")) == 1


def test_partially_paid_turns_overdue_and_settled_ones_only_leave_the_index(
    client: RecordingClient, clock: FixedClock
) -> None:
    partial = sent_invoice()
    voided = sent_invoice()
    paid = sent_invoice()
    table = client._client
    key = {"pk": {"S": "TENANT#tenant-a"}}
    for invoice_id, status in ((partial, "partially_paid"), (paid, "paid")):
        table.update_item(
            TableName=TABLE,
            Key={**key, "sk": {"S": f"INVOICE#{invoice_id}"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
        )
    bootstrap.app().invoices.void(MERCHANT, voided)
    clock.advance(days=31)
    assert run_schedule() == {
        "overdue": 1,
        "settled": 2,
        "deferred": 0,
        "recurring_made": 0,
        "recurring_auto_paid": 0,
    }
    assert [status_of(i) for i in (partial, voided, paid)] == ["overdue", "void", "paid"]
    assert markers(client) == []


def test_a_later_due_date_waits(client: RecordingClient, clock: FixedClock) -> None:
    early, late = sent_invoice("2030-01-10"), sent_invoice("2030-03-01")
    clock.advance(days=20)
    assert run_schedule()["overdue"] == 1
    assert (status_of(early), status_of(late)) == ("overdue", "sent")
    assert len(markers(client)) == 1


def test_the_handler_refuses_an_unknown_event(client: RecordingClient) -> None:
    import functions.invoice_schedules.handler as handler

    with pytest.raises(ValueError):
        handler.lambda_handler({"hello": 1}, FakeLambdaContext(function_name="invoice_schedules"))
