"""Consumer wallets through the local runtime: onboarding, an internal transfer, balances, limits, events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

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


def _onboarded(
    system: RunningRuntime, http: httpx.Client, sub: str, email: str, phone: str
) -> dict[str, str]:
    headers = consumer(system, sub)
    made = http.post("/api/consumer/onboard", json={"email": email, "phone": phone}, headers=headers)
    assert made.status_code in (200, 201), made.text
    return headers


def _identity(system: RunningRuntime, session_id: str, outcome: str, **body: str) -> None:
    stripe_url = system.state["services"]["stripe"]
    answer = httpx.post(
        f"{stripe_url}/_control/identity/verification_sessions/{session_id}/{outcome}", json=body, timeout=10
    )
    assert answer.status_code == 200, answer.text


def _limits_when(
    http: httpx.Client, headers: dict[str, str], ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        limits = dict(http.get("/api/consumer/limits", headers=headers).json()["data"])
        if ready(limits) or time.monotonic() > deadline:
            return limits
        time.sleep(0.5)


def test_kyc_upgrade_rises_on_the_signed_identity_webhook(system: RunningRuntime, http: httpx.Client) -> None:
    carol = _onboarded(system, http, "usr_e2e_carol", "carol.e2e@example.com", "+14155550113")
    with connect(f"{system.ws_url}?token={carol['Authorization'].split()[1]}", open_timeout=30) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "consumer"}))
        assert json.loads(socket.recv(timeout=30))["event"] == "subscribed"
        started = http.post(
            "/api/consumer/upgrade-kyc", json={"level": 2}, headers={**carol, "Idempotency-Key": "kyc-e2e-1"}
        )
        assert started.status_code == 202, started.text
        data = started.json()["data"]
        assert data["status"] == "pending" and data["verification_url"].startswith("http")
        assert httpx.get(data["verification_url"], timeout=10).status_code == 200  # the local hosted page
        assert http.get("/api/consumer/limits", headers=carol).json()["data"]["kyc_level"] == 1
        _identity(system, data["verification_session_id"], "verify")
        while True:
            message = json.loads(socket.recv(timeout=60))
            if message.get("event") == "kyc:upgraded":
                break
    assert message["channel"] == "consumer" and message["data"]["kyc_level"] == 2
    limits = http.get("/api/consumer/limits", headers=carol).json()["data"]
    assert limits["kyc_level"] == 2 and limits["daily"]["limit"] == "50000.00"
    assert limits["verification"]["status"] == "verified"
    lower = http.post("/api/consumer/upgrade-kyc", json={"level": 2}, headers=carol)
    assert lower.status_code == 400 and lower.json()["code"] == "invalid_state"


def test_kyc_requires_input_leaves_the_level_and_says_why(system: RunningRuntime, http: httpx.Client) -> None:
    dave = _onboarded(system, http, "usr_e2e_dave", "dave.e2e@example.com", "+14155550114")
    started = http.post("/api/consumer/upgrade-kyc", json={"level": 3}, headers=dave)
    assert started.status_code == 202, started.text
    session_id = started.json()["data"]["verification_session_id"]
    _identity(system, session_id, "fail", code="selfie_face_mismatch", reason="The selfie does not match.")
    limits = _limits_when(http, dave, lambda got: got["verification"]["status"] != "pending")
    assert limits["kyc_level"] == 1
    assert limits["verification"]["status"] == "requires_input"
    assert limits["verification"]["last_error"] == {
        "code": "selfie_face_mismatch",
        "reason": "The selfie does not match.",
    }
