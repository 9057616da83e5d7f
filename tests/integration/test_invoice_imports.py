"""Invoice imports on moto (table and SQS): 202 at once, batches worked from the queue exactly once, every
row error with its row and field, hostile CSVs read correctly, a repeated reference the same import."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings
from shared.enterprise.imports import BATCH_INVOICES
from tests.integration.conftest import (
    CONSUMER,
    OTHER_ADMIN,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    scan_all,
)

HEADER = "external_id,customer_id,currency,due_date,description,quantity,unit_price,tax_rate"
PATH = "/api/v1/invoice-imports"


@dataclass
class Rig:
    dynamodb: Any
    sqs: Any
    queue_url: str

    def post(self, body: str | bytes, content_type: str = "text/csv", **kwargs: Any) -> dict[str, Any]:
        import functions.invoice_batches.handler as handler

        text = body.decode("latin-1") if isinstance(body, bytes) else body
        event = api_event("POST", PATH, raw_body=text, headers={"Content-Type": content_type}, **kwargs)
        if isinstance(body, bytes):
            import base64

            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        return dict(handler.lambda_handler(event, FakeLambdaContext(function_name="invoice_batches")))

    def get(self, import_id: str, principal: dict[str, str] | None = None) -> dict[str, Any]:
        import functions.invoice_batches.handler as handler

        kwargs = {"principal": principal} if principal else {}
        event = api_event("GET", f"{PATH}/{import_id}", **kwargs)
        return dict(handler.lambda_handler(event, FakeLambdaContext(function_name="invoice_batches")))

    def work(self, *, repeat: bool = False) -> int:
        """Deliver every queued message to the worker (twice each with `repeat`, as SQS may)."""
        import functions.invoice_imports.handler as worker

        delivered = 0
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return delivered
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:imports",
                }
                for m in messages
            ]
            for _ in range(2 if repeat else 1):
                result = worker.lambda_handler({"Records": records}, FakeLambdaContext(function_name="w"))
                assert result == {"batchItemFailures": []}
            for m in messages:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            delivered += len(messages)


@pytest.fixture
def rig(dynamodb: Any) -> Iterator[Rig]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="imports")["QueueUrl"]
    settings = Settings.model_validate({"TABLE_NAME": TABLE, "IMPORT_QUEUE_URL": url})
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    bootstrap.use(Adapters(settings, dynamodb=dynamodb, sqs=sqs, clock=clock))
    yield Rig(dynamodb, sqs, url)


def invoices(rig: Rig) -> list[dict[str, Any]]:
    return [i for i in scan_all(rig.dynamodb) if i["sk"]["S"].startswith("INVOICE#")]


HOSTILE = (
    "\ufeff" + HEADER + "\r\n"
    'A-1,cus_a,USD,2030-02-01,"Design, phase 1",2,100.50,8.25\r\n'
    'A-1,cus_a,USD,2030-02-01,"=HYPERLINK(""http://x"")",1,20,\r\n'
    "B-2,cus_b,USD,2030-02-01,@SUM(1+1),1,5,\r\n"
    "C-3,cus_c,USD,2030-02-01,+ok,1,-5,\r\n"
    "D-4,cus_d,USD,2030-02-01,x,1,5.001,\r\n"
    "E-5,cus_e,XXX,2030-02-01,x,1,5,\r\n"
    "F-6,cus_f,USD,2030-02-01,x,1,5,\r\n"
    "F-6,cus_g,USD,2030-02-01,x,1,5,\r\n"
)


def test_a_hostile_csv_imports_in_the_background_with_each_row_error(rig: Rig) -> None:
    accepted = rig.post(HOSTILE.encode("utf-8"))
    assert accepted["statusCode"] == 202, accepted["body"]
    first = body_of(accepted)["data"]["import"]
    assert (first["status"], first["rows"], first["created"]) == ("queued", 8, 0)
    assert invoices(rig) == []  # nothing is created in the request itself
    assert rig.work() == 1
    done = body_of(rig.get(first["id"]))["data"]["import"]
    assert done["status"] == "completed_with_errors"
    assert (done["created"], done["failed"], done["invoices"]) == (2, 4, 6)
    assert [(e["row"], e["field"]) for e in done["errors"]] == [
        (4, "unit_price"),
        (5, "unit_price"),
        (6, "currency"),
        (8, "customer_id"),
    ]
    stored = {i["metadata"]["M"]["external_id"]["S"]: i for i in invoices(rig)}
    assert sorted(stored) == ["A-1", "B-2"]
    lines = [line["M"]["description"]["S"] for line in stored["A-1"]["line_items"]["L"]]
    assert lines == ["Design, phase 1", '=HYPERLINK("http://x")']  # text, never evaluated
    assert stored["B-2"]["line_items"]["L"][0]["M"]["description"]["S"] == "@SUM(1+1)"
    assert sorted(i["number"]["S"] for i in invoices(rig)) == ["INV-00001", "INV-00002"]
    names = [i["event_name"]["S"] for i in scan_all(rig.dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert sorted(n for n in names if n.startswith("import.")) == [
        "import.completed",
        "import.created",
        "import.progress",
    ]


def test_json_rows_across_batches_are_created_once_even_when_redelivered(rig: Rig) -> None:
    rows = [
        {
            "external_id": f"ext-{n}",
            "customer_id": "cus_a",
            "currency": "USD",
            "due_date": "2030-02-01",
            "description": "Work",
            "quantity": 1,
            "unit_price": "10.00",
        }
        for n in range(100)
    ]
    response = rig.post(json.dumps({"rows": rows, "reference": "march-run"}), "application/json")
    assert response["statusCode"] == 202
    import_id = body_of(response)["data"]["import"]["id"]
    assert rig.work(repeat=True) == math.ceil(100 / BATCH_INVOICES)  # one message per batch
    done = body_of(rig.get(import_id))["data"]["import"]
    assert (done["status"], done["created"], done["failed"], done["errors"]) == ("completed", 100, 0, [])
    numbers = sorted(i["number"]["S"] for i in invoices(rig))
    assert numbers == [f"INV-{n:05d}" for n in range(1, 101)]
    # The same reference within 30 days is the same import, not a second one.
    again = rig.post(json.dumps({"rows": rows, "reference": "march-run"}), "application/json")
    assert body_of(again)["data"]["import"]["id"] == import_id
    assert rig.work() == 0 and len(invoices(rig)) == 100


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "text/csv", "body"),
        (b"A-1,cus_a,USD,2030-02-01,x,1,5,\n", "text/csv", "header"),
        (b"", "text/csv", "header"),
        ((HEADER + "\n").encode(), "text/csv", "rows"),
        ((HEADER + "\n" + "A,cus_a,USD,2030-02-01,x,1,5,\n" * 10_001).encode(), "text/csv", "rows"),
        ((HEADER + '\nA,cus_a,USD,2030-02-01,"x"y,1,5,\n').encode(), "text/csv", "body"),
        (b'{"rows": []}', "application/json", "rows"),
        (b'{"rows": "x"}', "application/json", "rows"),
        (b"not json", "application/json", "body"),
    ],
    ids=["utf-16", "no header", "empty", "no rows", "10001 rows", "stray quote", "[]", "str", "bad json"],
)
def test_a_bad_file_is_400_and_changes_nothing(rig: Rig, body: bytes, content_type: str, field: str) -> None:
    response = rig.post(body, content_type)
    assert response["statusCode"] == 400, response["body"]
    error = body_of(response)
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field
    assert scan_all(rig.dynamodb) == []
    assert rig.work() == 0


def test_roles_and_tenants(rig: Rig) -> None:
    assert (
        rig.post((HEADER + "\nA,cus_a,USD,2030-02-01,x,1,5,\n").encode(), principal=CONSUMER)["statusCode"]
        == 403
    )
    accepted = body_of(rig.post((HEADER + "\nA,cus_a,USD,2030-02-01,x,1,5,\n").encode()))
    import_id = accepted["data"]["import"]["id"]
    assert rig.get(import_id, principal=OTHER_ADMIN)["statusCode"] == 404
    assert rig.get("imp_missing")["statusCode"] == 404
