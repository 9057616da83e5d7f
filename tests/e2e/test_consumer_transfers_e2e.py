"""Batch transfers and swaps through the local runtime: a consumer pays another consumer and an outside
address in one batch (one Tempo call), then swaps USDC to EURC by quote, and the reserve reconciles."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.ledger import movements
from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, project_system, token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    # A system of its own: the test reconciles the whole reserve, which other files' seeded ledgers move.
    with project_system(tmp_path_factory.mktemp("consumer-transfers"), own=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def onboard(http: httpx.Client, headers: dict[str, str], email: str, phone: str) -> dict[str, str]:
    made = http.post("/api/consumer/onboard", json={"email": email, "phone": phone}, headers=headers)
    assert made.status_code == 201, made.text
    return dict(made.json()["data"]["wallet"])


def deposit(system: RunningRuntime, wallet: dict[str, str], dollars: int) -> None:
    """What a deposit brings: a funding journal in the ledger and the tokens minted at Tempo."""
    client = system.aws("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "WalletsTable" in n)
    journal = movements.funding(
        operation_id=f"e2e-seed-{wallet['wallet_id']}",
        wallet_id=wallet["wallet_id"],
        tenant_id="ten_demo",
        currency="USD",
        token="USDC",
        fiat_amount=dollars * 100,
        created_at=datetime.now(UTC),
    )
    DynamoDBLedger(client, table, shards=1).post(journal)
    minted = httpx.post(
        f"{system.state['services']['tempo']}/v1/mints",
        json={"asset": "USDC", "amount": str(dollars * 1_000_000), "to": wallet["wallet_address"]},
        headers={"Authorization": "Bearer e2e", "Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )
    assert minted.status_code == 200, minted.text


def test_a_batch_to_a_consumer_and_an_address_then_a_quoted_swap(
    system: RunningRuntime, http: httpx.Client
) -> None:
    alice = auth(token(system, sub="usr_bt_alice", roles=["consumer"]))
    bob = auth(token(system, sub="usr_bt_bob", roles=["consumer"]))
    wallet = onboard(http, alice, "alice.bt@example.com", "+14155550121")
    onboard(http, bob, "bob.bt@example.com", "+14155550122")
    deposit(system, wallet, 300)
    outside = "0x" + secrets.token_hex(20)
    lines = [
        {"to": "bob.bt@example.com", "amount": "10", "currency": "USDC"},
        {"to": outside, "amount": "20.5", "currency": "USDC"},
    ]
    made = http.post(
        "/api/consumer/batch-transfer",
        json={"recipients": lines, "reference": "e2e"},
        headers={**alice, "Idempotency-Key": "e2e-batch-1"},
    )
    assert made.status_code == 201, made.text
    batch = made.json()["data"]["batch"]
    assert (batch["status"], batch["provider"], batch["fee"]) == ("completed", "tempo", "0.10"), batch
    tempo = httpx.get(f"{system.state['services']['tempo']}/_control/state", timeout=10).json()
    assert tempo["balances"][outside]["USDC"] == 20_500_000
    assert [op["kind"] for op in tempo["operations"]].count("batch_transfer") == 1
    read = http.get(f"/api/consumer/batch-transfer/{batch['id']}", headers=alice)
    assert read.status_code == 200 and read.json()["data"]["batch"] == batch
    balances = {
        b["currency"]: b["available"]
        for b in http.get("/api/consumer/balance", headers=bob).json()["data"]["balances"]
    }
    assert balances["USDC"] == "10.00"

    quote = http.post(
        "/api/consumer/swap/quote", json={"from": "USDC", "to": "EURC", "amount": "100"}, headers=alice
    )
    assert quote.status_code == 200, quote.text
    swapped = http.post(
        "/api/consumer/swap",
        json={"quote_id": quote.json()["data"]["quote_id"]},
        headers={**alice, "Idempotency-Key": "e2e-swap-1"},
    )
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["data"]["to_amount"] == quote.json()["data"]["to_amount"]
    mine = {
        b["currency"]: b["available"]
        for b in http.get("/api/consumer/balance", headers=alice).json()["data"]["balances"]
    }
    assert mine["USDC"] == "169.40" and mine["EURC"] == quote.json()["data"]["to_amount"]

    reconciled = http.post("/api/v2/reserve/reconcile", headers=auth(system.tokens["operator"]))
    assert reconciled.status_code == 200, reconciled.text
    assert reconciled.json()["data"]["status"] == "balanced", reconciled.text
