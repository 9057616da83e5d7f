"""Bulk invoice creation on moto: a result per entry, bad entries fail alone, numbers gapless and unique
when bulk calls and single creates race."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.api import parse_json
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.invoices.bulk import BulkInvoiceService
from shared.invoices.service import InvoiceService, jittered_backoff
from shared.models.invoice import InvoiceCreate
from tests.integration.conftest import (
    CONSUMER,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
)
from tests.integration.test_invoices_api import VALID
from tests.integration.test_invoices_hardening import AtomicCallsClient

PATH = "/api/v1/invoices/bulk"
MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))


@pytest.fixture
def batches(dynamodb: Any) -> Iterator[ModuleType]:
    import functions.invoice_batches.handler as handler

    bootstrap.use(
        Adapters(get_settings(), dynamodb=dynamodb, clock=FixedClock(datetime(2030, 1, 1, tzinfo=UTC)))
    )
    yield handler


def call(handler: ModuleType, body: Any, **kwargs: Any) -> dict[str, Any]:
    return dict(handler.lambda_handler(api_event("POST", PATH, body=body, **kwargs), FakeLambdaContext()))


def invoice_items(client: Any) -> list[dict[str, Any]]:
    return [i for i in scan_all(client) if i["sk"]["S"].startswith("INVOICE#")]


def test_bulk_creates_each_good_entry_and_fails_each_bad_one_alone(
    batches: ModuleType, dynamodb: Any
) -> None:
    bad_price = {**VALID, "line_items": [{"description": "x", "quantity": 1, "unit_price": "-5"}]}
    entries = [
        VALID,
        bad_price,
        "not an object",
        {**VALID, "currency": "XXX"},
        {**VALID, "customer_id": "cus_bob"},
    ]
    response = call(batches, {"invoices": entries})
    assert response["statusCode"] == 200
    data = body_of(response)["data"]
    assert (data["created"], data["failed"]) == (2, 3)
    assert [r["index"] for r in data["results"]] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in data["results"]] == ["created", "failed", "failed", "failed", "created"]
    assert [r["invoice"]["number"] for r in data["results"] if r["invoice"]] == ["INV-00001", "INV-00002"]
    assert data["results"][0]["invoice"]["total_amount"] == "346.37"
    first_error = data["results"][1]["error"]
    assert first_error["code"] == "validation_error"
    assert first_error["details"][0]["field"].startswith("line_items.0.unit_price")
    assert data["results"][3]["error"]["details"][0]["field"] == "currency"
    stored = invoice_items(dynamodb)
    assert sorted(i["number"]["S"] for i in stored) == ["INV-00001", "INV-00002"]
    assert {i["customer_id"]["S"] for i in stored} == {"cus_alice", "cus_bob"}
    outbox = [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert sorted(i["event_name"]["S"] for i in outbox) == ["invoice.created", "invoice.created"]


def test_five_hundred_entries_span_chunks_with_gapless_numbers(batches: ModuleType, dynamodb: Any) -> None:
    response = call(batches, {"invoices": [VALID] * 500}, headers={"Idempotency-Key": "bulk-500"})
    data = body_of(response)["data"]
    assert (data["created"], data["failed"]) == (500, 0)
    numbers = [r["invoice"]["number"] for r in data["results"]]
    assert numbers == [f"INV-{n:05d}" for n in range(1, 501)]
    assert len(invoice_items(dynamodb)) == 500
    again = call(batches, {"invoices": [VALID] * 500}, headers={"Idempotency-Key": "bulk-500"})
    assert header(again, "Idempotent-Replayed") == "true"
    assert body_of(again)["data"] == data
    assert len(invoice_items(dynamodb)) == 500


@pytest.mark.parametrize(
    "body",
    [{"invoices": []}, {"invoices": [VALID] * 501}, {"invoices": VALID}, {"other": 1}, [VALID]],
    ids=["empty", "501", "not a list", "unknown field", "array body"],
)
def test_a_bad_envelope_is_400_and_changes_nothing(batches: ModuleType, dynamodb: Any, body: Any) -> None:
    response = call(batches, body)
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == "validation_error"
    assert scan_all(dynamodb) == []


def test_a_consumer_may_not_bulk_create(batches: ModuleType, dynamodb: Any) -> None:
    response = call(batches, {"invoices": [VALID]}, principal=CONSUMER)
    assert response["statusCode"] == 403
    assert invoice_items(dynamodb) == []


def test_bulk_calls_racing_single_creates_get_unique_gapless_numbers(dynamodb: Any) -> None:
    client = AtomicCallsClient(dynamodb)
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    conflicts: list[int] = []

    def backoff(attempt: int) -> None:
        conflicts.append(attempt)
        jittered_backoff(attempt)

    repository = DynamoDBInvoiceRepository(client, TABLE)
    single = InvoiceService(repository, clock, max_attempts=200, backoff=backoff)
    bulk = BulkInvoiceService(repository, clock, max_attempts=200, backoff=backoff)
    request = InvoiceCreate.model_validate(parse_json(json.dumps(VALID)))
    entries = [parse_json(json.dumps(VALID))] * 70

    def work(n: int) -> list[str]:
        if n % 3 == 0:
            result = bulk.create_many(MERCHANT, entries)
            assert result.failed == 0
            return [r.invoice.number for r in result.results if r.invoice]
        return [single.create(MERCHANT, request).number]

    with ThreadPoolExecutor(max_workers=12) as pool:
        numbers = [n for batch in pool.map(work, range(12)) for n in batch]
    # 4 bulk calls of 70 and 8 single creates: 288 invoices numbered 1..288, each exactly once.
    assert sorted(numbers) == [f"INV-{n:05d}" for n in range(1, 289)]
    assert sorted(i["number"]["S"] for i in invoice_items(dynamodb)) == sorted(numbers)
    counter = next(i for i in scan_all(dynamodb) if i["sk"]["S"] == "COUNTER#INVOICE")
    assert counter["value"]["N"] == "288"
    assert conflicts, "nothing raced; the test proved nothing"
