"""Consumer wallets through the local runtime: onboarding, an internal transfer, balances, limits, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from websockets.sync.client import connect

from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.ledger import movements
from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, project_system, token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("consumer")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def consumer(system: RunningRuntime, sub: str) -> dict[str, str]:
    return auth(token(system, sub=sub, roles=["consumer"]))


def seed(system: RunningRuntime, wallet_id: str, dollars: int) -> None:
    """Money in as a deposit brings it (deposits are the next slice): a funding journal in the ledger."""
    client = system.aws("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "WalletsTable" in n)
    journal = movements.funding(
        operation_id=f"e2e-seed-{wallet_id}",
        wallet_id=wallet_id,
        tenant_id="ten_demo",
        currency="USD",
        token="USDC",
        fiat_amount=dollars * 100,
        created_at=datetime.now(UTC),
    )
    DynamoDBLedger(client, table, shards=1).post(journal)


def test_onboard_then_transfer_between_consumers(system: RunningRuntime, http: httpx.Client) -> None:
    alice, bob = consumer(system, "usr_e2e_alice"), consumer(system, "usr_e2e_bob")
    made = http.post(
        "/api/consumer/onboard",
        json={"email": "alice.e2e@example.com", "phone": "+14155550111"},
        headers=alice,
    )
    assert made.status_code == 201, made.text
    wallet_id = made.json()["data"]["wallet"]["wallet_id"]
    again = http.post(
        "/api/consumer/onboard",
        json={"email": "alice.e2e@example.com", "phone": "+14155550111"},
        headers=alice,
    )
    assert again.status_code == 200 and again.json()["data"]["wallet"]["wallet_id"] == wallet_id
    taken = http.post(
        "/api/consumer/onboard", json={"email": "alice.e2e@example.com", "phone": "+14155550112"}, headers=bob
    )
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"
    joined = http.post(
        "/api/consumer/onboard", json={"email": "bob.e2e@example.com", "phone": "+14155550112"}, headers=bob
    )
    assert joined.status_code == 201, joined.text
    seed(system, wallet_id, 300)

    with connect(f"{system.ws_url}?token={bob['Authorization'].split()[1]}", open_timeout=30) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "consumer"}))
        assert json.loads(socket.recv(timeout=30))["event"] == "subscribed"
        sent = http.post(
            "/api/consumer/transfer",
            json={"to": "bob.e2e@example.com", "amount": "75.25", "memo": "dinner"},
            headers={**alice, "Idempotency-Key": "e2e-transfer-1"},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["data"]["transaction"]["status"] == "completed"
        received = []
        while len(received) < 2:
            message = json.loads(socket.recv(timeout=60))
            if message.get("event") in ("transfer:received", "balance:updated"):
                received.append(message)
    assert {m["event"] for m in received} == {"transfer:received", "balance:updated"}
    assert all(m["channel"] == "consumer" for m in received)

    def usdc(headers: dict[str, str]) -> str:
        lines = http.get("/api/consumer/balance", headers=headers).json()["data"]["balances"]
        return next(line["available"] for line in lines if line["currency"] == "USDC")

    assert usdc(alice) == "224.75" and usdc(bob) == "75.25"
    limits = http.get("/api/consumer/limits", headers=alice).json()["data"]
    assert limits["daily"]["used"] == "75.25" and limits["daily"]["remaining"] == "924.75"
    over = http.post("/api/consumer/transfer", json={"to": "usr_e2e_bob", "amount": "925"}, headers=alice)
    assert over.status_code == 400 and over.json()["code"] == "limit_exceeded"
    assert usdc(alice) == "224.75"
    history = http.get("/api/consumer/transactions", headers=bob).json()["data"]["transactions"]
    assert [(t["type"], t["amount"], t["counterparty"]) for t in history] == [
        ("transfer_received", "75.25", "usr_e2e_alice")
    ]
