"""Consumer money through the local runtime: a card deposit, a bank debit completed by Stripe's signed
webhook, a withdrawal to a bank through Stripe Connect whose payout then fails (credited back), and a
transfer out to an address; events on the consumer's channel."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, project_system, token

pytestmark = pytest.mark.e2e
OUTSIDE = "0x" + "cd" * 20


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("consumer-money")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def _until(read: Callable[[], Any], ready: Callable[[Any], bool], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_deposit_withdraw_and_send_out(system: RunningRuntime, http: httpx.Client) -> None:
    alice = auth(token(system, sub="usr_money_alice", roles=["consumer"]))
    made = http.post(
        "/api/consumer/onboard",
        json={"email": "money.alice@example.com", "phone": "+14155550177"},
        headers=alice,
    )
    assert made.status_code == 201, made.text
    stripe_url = system.state["services"]["stripe"]

    def usdc() -> str:
        lines = http.get("/api/consumer/balance", headers=alice).json()["data"]["balances"]
        return str(next(line["available"] for line in lines if line["currency"] == "USDC"))

    def post(path: str, body: dict[str, Any], key: str) -> httpx.Response:
        return http.post(f"/api/consumer/{path}", json=body, headers={**alice, "Idempotency-Key": key})

    with connect(f"{system.ws_url}?token={alice['Authorization'].split()[1]}", open_timeout=30) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "consumer"}))
        assert json.loads(socket.recv(timeout=30))["event"] == "subscribed"
        card = post(
            "deposit", {"amount": "300.00", "payment_method": "pm_card_visa", "urgency": "instant"}, "d1"
        )
        assert card.status_code == 200, card.text
        assert card.json()["data"]["transaction"]["status"] == "completed" and card.json()["data"]["provider"]
        seen: set[str] = set()
        while not {"deposit:complete", "balance:updated"} <= seen:
            message = json.loads(socket.recv(timeout=60))
            seen.add(str(message.get("event")))
    assert usdc() == "300.00"

    bank = post(
        "deposit",
        {"amount": "50.00", "payment_method": "pm_usBankAccount_success", "urgency": "standard"},
        "d2",
    )
    assert bank.status_code == 202, bank.text
    intent_id = bank.json()["data"]["payment_intent_id"]
    settled = httpx.post(f"{stripe_url}/_control/payment_intents/{intent_id}/complete", json={}, timeout=10)
    assert settled.status_code == 200, settled.text
    assert _until(usdc, lambda v: v == "350.00") == "350.00"

    out = post(
        "withdraw",
        {
            "amount": "100.00",
            "destination": {"type": "bank", "bank_account": "btok_us_verified", "speed": "instant"},
        },
        "w1",
    )
    assert out.status_code == 200, out.text
    payout_id = out.json()["data"]["payout_id"]
    assert out.json()["data"]["arrival_date"] and usdc() == "250.00"
    failed = httpx.post(
        f"{stripe_url}/_control/payouts/{payout_id}/fail", json={"code": "account_closed"}, timeout=10
    )
    assert failed.status_code == 200, failed.text
    assert _until(usdc, lambda v: v == "350.00") == "350.00"

    def withdrawals() -> list[dict[str, Any]]:
        data = http.get("/api/consumer/transactions", params={"type": "withdrawal"}, headers=alice).json()[
            "data"
        ]
        return list(data["transactions"])

    assert [t["status"] for t in withdrawals()] == ["reversed"]

    sent = post("transfer", {"to": OUTSIDE, "amount": "20"}, "t1")
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["fee"] == "0.01" and usdc() == "329.99"
    limits = http.get("/api/consumer/limits", headers=alice).json()["data"]
    assert (
        limits["daily"]["used"] == "370.00"
    )  # deposits 350 and the transfer out 20; the reversed payout gave its 100 back
