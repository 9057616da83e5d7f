"""Invoice creation under concurrency and hostile input: unique gapless numbers, 4xx that change nothing."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.api import parse_json
from shared.auth import Principal
from shared.clock import FixedClock
from shared.invoices.service import InvoiceService, jittered_backoff
from shared.models.invoice import InvoiceCreate
from tests.integration.conftest import TABLE, api_event, body_of, scan_all
from tests.integration.test_invoices_api import VALID, call, invoices  # noqa: F401 - fixture

MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))


class AtomicCallsClient:
    """Makes each DynamoDB call atomic, as the real service is; moto's in-process backend is not thread-safe.

    Threads still interleave freely between calls (read counter, then transact), which is the race the
    counter's condition must win.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def test_twenty_concurrent_creates_get_unique_gapless_numbers(dynamodb: Any) -> None:
    attempts: list[int] = []
    service = InvoiceService(
        DynamoDBInvoiceRepository(AtomicCallsClient(dynamodb), TABLE),
        FixedClock(datetime(2030, 1, 1, tzinfo=UTC)),
        max_attempts=60,
        backoff=lambda attempt: (attempts.append(attempt), jittered_backoff(attempt))[0],
    )
    request = InvoiceCreate.model_validate(parse_json(json.dumps(VALID)))
    with ThreadPoolExecutor(max_workers=20) as pool:
        created = list(pool.map(lambda _: service.create(MERCHANT, request), range(20)))
    numbers = sorted(invoice.number for invoice in created)
    assert numbers == [f"INV-{n:05d}" for n in range(1, 21)]
    stored = [i for i in scan_all(dynamodb) if i["sk"]["S"].startswith("INVOICE#")]
    assert sorted(i["number"]["S"] for i in stored) == numbers
    counter = next(i for i in scan_all(dynamodb) if i["sk"]["S"] == "COUNTER#INVOICE")
    assert counter["value"]["N"] == "20"
    assert attempts, "the threads never raced; the test proved nothing"


def _line(**overrides: Any) -> dict[str, Any]:
    return {"description": "Work", "quantity": 1, "unit_price": "10.00", **overrides}


def _body(**overrides: Any) -> str:
    return json.dumps({**VALID, **overrides})


BAD_BODIES: dict[str, str] = {
    "malformed json": '{"customer_id": ',
    "array body": "[1, 2]",
    "string body": '"hello"',
    "null body": "null",
    "empty body": "",
    "nan literal": _body().replace('"100.50"', "NaN"),
    "infinity literal": _body().replace('"100.50"', "Infinity"),
    "huge integer": _body().replace('"100.50"', "9" * 5000),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "unknown field": _body(discount="5"),
    "unknown line field": _body(line_items=[_line(sku="A")]),
    "wrong type customer": _body(customer_id=123),
    "wrong type line items": _body(line_items={"a": 1}),
    "no line items": _body(line_items=[]),
    "301 line items": _body(line_items=[_line()] * 300),
    "negative amount": _body(line_items=[_line(unit_price="-1")]),
    "zero amount": _body(line_items=[_line(unit_price=0)]),
    "nan string amount": _body(line_items=[_line(unit_price="NaN")]),
    "inf string amount": _body(line_items=[_line(unit_price="Infinity")]),
    "over limit amount": _body(line_items=[_line(unit_price="1000000000.01")]),
    "three decimals": _body(line_items=[_line(unit_price="10.005")]),
    "exponent string": _body(line_items=[_line(unit_price="1e3")]),
    "bool amount": _body(line_items=[_line(unit_price=True)]),
    "total over limit": _body(line_items=[_line(unit_price="1000000000", quantity=2)]),
    "fractional quantity": _body(line_items=[_line(quantity=1.5)]),
    "string quantity": _body(line_items=[_line(quantity="2")]),
    "zero quantity": _body(line_items=[_line(quantity=0)]),
    "huge quantity": _body(line_items=[_line(quantity=1_000_001)]),
    "tax over 100": _body(line_items=[_line(tax_rate=101)]),
    "tax 5 decimals": _body(line_items=[_line(tax_rate="8.12345")]),
    "decimals for JPY": _body(currency="JPY", line_items=[_line(unit_price="10.50")]),
    "lowercase currency": _body(currency="usd"),
    "unknown currency": _body(currency="XXQ"),
    "long description": _body(line_items=[_line(description="x" * 501)]),
    "control character": _body(line_items=[_line(description="bad\u0000byte")]),
    "escape sequence": _body(category="\u001b[31mred"),
    "lone surrogate": '{"customer_id": "c", "currency": "USD", "line_items": [{"description": "\\ud800", '
    '"quantity": 1, "unit_price": 1}], "due_date": "2030-01-01"}',
    "bidi override": _body(category="abc\u202edef"),
    "blank description": _body(line_items=[_line(description="   ")]),
    "hash in customer": _body(customer_id="a#TENANT#b"),
    "unicode customer": _body(customer_id="clïent"),
    "impossible date": _body(due_date="2030-02-30"),
    "sloppy date": _body(due_date="2030-1-5"),
    "word date": _body(due_date="tomorrow"),
    "datetime not date": _body(due_date="2030-01-01T00:00:00Z"),
    "numeric date": _body(due_date=20300101),
    "bad wallet address": _body(enterprise_wallet_address="0x123"),
    "bad payment type": _body(payment_type="weekly"),
    "contradicting recurring": _body(payment_type="one_time", recurring=True),
    "string recurring": _body(recurring="yes"),
    "too much metadata": _body(metadata={f"k{i}": "v" for i in range(21)}),
    "metadata non string": _body(metadata={"k": 1}),
    "two megabytes": _body(category="x" * (2 * 1024 * 1024)),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_input_is_400_and_changes_nothing(invoices: ModuleType, dynamodb: Any, name: str) -> None:  # noqa: F811
    before = scan_all(dynamodb)
    event = api_event(
        "POST", "/api/v1/invoices", raw_body=BAD_BODIES[name], headers={"Idempotency-Key": name}
    )
    response = call(invoices, event)
    body = body_of(response)
    assert (response["statusCode"], body["code"], body["success"]) == (400, "validation_error", False), body
    assert body["details"] and all({"field", "message", "type"} <= set(d) for d in body["details"])
    assert scan_all(dynamodb) == before


def test_hostile_but_valid_unicode_is_stored_exactly(invoices: ModuleType) -> None:  # noqa: F811
    text = "Café ☕ — 日本語 \U0001f680 <script>alert(1)</script> ' OR 1=1 --"
    response = call(
        invoices, api_event("POST", "/api/v1/invoices", raw_body=_body(line_items=[_line(description=text)]))
    )
    invoice_id = body_of(response)["data"]["invoice"]["id"]
    read = body_of(call(invoices, api_event("GET", f"/api/v1/invoices/{invoice_id}")))
    assert read["data"]["invoice"]["line_items"][0]["description"] == text
