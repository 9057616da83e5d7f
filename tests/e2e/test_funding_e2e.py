"""Funding through the local runtime, as `make run` serves it: ACH settled by Stripe's signed webhook (and
the same webhook again), 20 concurrent funds of one wallet, failover to Circle while Tempo is down and
back, then the reserve reconciled with the providers' supply.

One system for the module at WALLETS_SPEED 30, so the providers' 1-minute health check fires every 2 s
(a 24 h wallet TTL is still 48 real minutes). The tests share the system and run in file order; each
measures the stand-ins' supply before and after itself, so none depends on what the others minted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningRuntime, wait_for
from tests.e2e.system import auth, create_invoice, project_system, token

pytestmark = pytest.mark.e2e

SPEED = 30
STRIPE_KEY = "sk_test_local"
CREATE = "/api/v2/invoice-wallets/create-from-invoice"
UNITS_PER_CENT = 10_000  # token minor units (6 decimals) per fiat cent


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    # A system of its own (as at any speed but 1): the module reconciles the whole reserve.
    with project_system(tmp_path_factory.mktemp("funding"), speed=SPEED, own=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def service(system: RunningRuntime, name: str) -> str:
    return str(system.state["services"][name])


def supply(system: RunningRuntime) -> dict[str, int]:
    """USDC supply each provider stand-in reports (what was minted through it, minus burns)."""
    return {
        name: int(
            httpx.get(f"{service(system, name)}/_control/state", timeout=10).json()["supply"].get("USDC", 0)
        )
        for name in ("tempo", "circle")
    }


def funded_wallet(system: RunningRuntime, http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    merchant = auth(system.tokens["merchant"])
    invoice = create_invoice(http, system.tokens["merchant"])
    assert invoice.status_code == 201, invoice.text
    data = invoice.json()["data"]["invoice"]
    made = http.post(CREATE, json={"invoice_id": data["id"]}, headers=merchant)
    assert made.status_code == 201, made.text
    return data, made.json()["data"]["wallet"]


def wallet_of(http: httpx.Client, system: RunningRuntime, wallet_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/v2/invoice-wallets/{wallet_id}", headers=auth(system.tokens["merchant"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["wallet"])


def cents(amount: str) -> int:
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def reconcile(system: RunningRuntime, http: httpx.Client) -> dict[str, Any]:
    operator = auth(token(system, sub="usr_operator_e2e", roles=["operator"]))
    answer = http.post("/api/v2/reserve/reconcile", headers=operator)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def deliveries(system: RunningRuntime) -> list[dict[str, Any]]:
    answer = httpx.get(f"{service(system, 'stripe')}/_control/webhooks", timeout=10)
    return list(answer.json()["deliveries"])


def stripe_event(system: RunningRuntime, event_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{service(system, 'stripe')}/v1/events/{event_id}",
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def primary(system: RunningRuntime, http: httpx.Client) -> str | None:
    answer = http.get("/api/v2/provider-health/status", headers=auth(system.tokens["admin"]))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["primary"]


def receive(socket: ClientConnection, event: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("event") == event:
            return dict(message)


def test_ach_is_funded_by_the_webhook_once_and_a_resent_event_mints_nothing(
    system: RunningRuntime, http: httpx.Client
) -> None:
    invoice, wallet = funded_wallet(system, http)
    wallet_id = wallet["wallet_id"]
    path = f"/api/v2/invoice-wallets/{wallet_id}/fund"
    headers = {**auth(system.tokens["merchant"]), "Idempotency-Key": "ach-e2e-1"}
    body = {"payment_method": "pm_usBankAccount"}
    before = supply(system)

    started = http.post(path, json=body, headers=headers)
    assert started.status_code == 202, started.text
    data = started.json()["data"]
    assert data["status"] == "processing" and data["wallet_id"] == wallet_id
    intent_id = data["payment_intent_id"]
    assert intent_id.startswith("pi_")
    assert wallet_of(http, system, wallet_id)["status"] == "active"
    assert supply(system) == before  # nothing is minted for a payment still in the bank's hands

    seen = {d["event_id"] for d in deliveries(system)}
    completed = httpx.post(
        f"{service(system, 'stripe')}/_control/payment_intents/{intent_id}/complete", json={}, timeout=10
    )
    assert completed.status_code == 200 and completed.json()["status"] == "succeeded", completed.text

    funded = wait_for(
        lambda: (w := wallet_of(http, system, wallet_id))["status"] == "funded" and w,
        timeout=30,
        interval=0.2,
    )
    assert funded["balance"] == invoice["amount_due"]
    after = supply(system)
    minted = sum(after.values()) - sum(before.values())
    assert minted == cents(invoice["amount_due"]) * UNITS_PER_CENT

    # The signed payment_intent.succeeded event that funded it, delivered to /webhooks/stripe.
    succeeded = [
        d
        for d in deliveries(system)
        if d["event_id"] not in seen
        and d["event_type"] == "payment_intent.succeeded"
        and stripe_event(system, d["event_id"])["data"]["object"]["id"] == intent_id
    ]
    assert len(succeeded) == 1, succeeded
    event_id = succeeded[0]["event_id"]
    assert succeeded[0]["status"] == "delivered", succeeded[0]

    # Stripe delivers at least once: the same event, byte for byte, is a 200 no-op.
    resent = httpx.post(f"{service(system, 'stripe')}/_control/webhooks/{event_id}/resend", timeout=10)
    assert resent.status_code == 200, resent.text

    def resend_answered() -> list[dict[str, Any]]:
        copies = [d for d in deliveries(system) if d["event_id"] == event_id]
        return copies if len(copies) == 2 and all(d["status"] != "pending" for d in copies) else []

    copies = wait_for(resend_answered, timeout=20, interval=0.2)
    assert [d["status"] for d in copies] == ["delivered", "delivered"], copies
    assert supply(system) == after
    assert wallet_of(http, system, wallet_id)["balance"] == invoice["amount_due"]
    report = reconcile(system, http)
    assert report["status"] == "balanced", report
    assert report["checks"]["provider_supply"] == "passed", report["checks"]

    # The original request again, after the webhook funded the wallet. The contract replays the first
    # answer for the same key and body (as Stripe does): 202 `processing` with the same intent, marked
    # Idempotent-Replayed, charging nothing. That is sensible: the replay says what that request did, the
    # header says it is a replay, and the wallet (GET, or `wallet:funded` on its channel) says what
    # happened since. A new attempt under a new key is refused: the wallet is funded.
    replay = http.post(path, json=body, headers=headers)
    assert replay.status_code == 202 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == started.json()
    fresh = http.post(path, json=body, headers={**headers, "Idempotency-Key": "ach-e2e-2"})
    assert (fresh.status_code, fresh.json()["code"]) == (400, "invalid_state")
    assert supply(system) == after


def test_twenty_concurrent_funds_of_one_wallet_mint_once(system: RunningRuntime, http: httpx.Client) -> None:
    invoice, wallet = funded_wallet(system, http)
    path = f"/api/v2/invoice-wallets/{wallet['wallet_id']}/fund"
    merchant = auth(system.tokens["merchant"])
    before = supply(system)

    def fund(n: int) -> httpx.Response:
        # Half send no key (each call its own attempt and Stripe key), half are distinct requests that race
        # for the wallet with their own keys: one funding wins, every other charge is refused or refunded.
        headers = merchant if n % 2 else {**merchant, "Idempotency-Key": f"race-{n}"}
        return http.post(path, json={"payment_method": "pm_card_visa"}, headers=headers)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(fund, range(20)))

    assert all(a.status_code < 500 for a in answers), [a.text for a in answers if a.status_code >= 500]
    wins = [a.json()["data"] for a in answers if a.status_code == 200]
    assert wins, [a.text for a in answers]
    # Several 200s may only be the same funding told again (a replay of the winner's state).
    assert len({(w["payment_intent_id"], w["transaction_hash"]) for w in wins}) == 1, wins
    refused = {a.json()["code"] for a in answers if a.status_code != 200}
    assert refused <= {"invalid_state", "conflict", "idempotency_in_progress"}, refused
    after = supply(system)
    assert sum(after.values()) - sum(before.values()) == cents(invoice["amount_due"]) * UNITS_PER_CENT
    assert wallet_of(http, system, wallet["wallet_id"])["balance"] == invoice["amount_due"]


def test_failover_to_circle_while_tempo_is_down_and_back(system: RunningRuntime, http: httpx.Client) -> None:
    tempo = service(system, "tempo")
    wait_for(lambda: primary(system, http) == "tempo", timeout=20, interval=0.3)
    admin = token(system, sub="usr_admin_e2e", roles=["admin"])
    with connect(f"{system.ws_url}?token={admin}", open_timeout=20) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "admin"}))
        try:
            assert httpx.post(f"{tempo}/_control/down", timeout=10).status_code == 200
            wait_for(lambda: primary(system, http) == "circle", timeout=30, interval=0.3)
            away = receive(socket, "provider:switched")["data"]
            assert (away["from"], away["to"]) == ("tempo", "circle"), away

            invoice, wallet = funded_wallet(system, http)
            before = supply(system)
            path = f"/api/v2/invoice-wallets/{wallet['wallet_id']}/fund"
            funded = http.post(
                path, json={"payment_method": "pm_card_visa"}, headers=auth(system.tokens["merchant"])
            )
            assert funded.status_code == 200, funded.text
            assert funded.json()["data"]["provider"] == "circle"
            assert wallet_of(http, system, wallet["wallet_id"])["provider"] == "circle"
            after = supply(system)
            assert after["tempo"] == before["tempo"]
            assert after["circle"] - before["circle"] == cents(invoice["amount_due"]) * UNITS_PER_CENT
        finally:
            httpx.post(f"{tempo}/_control/up", timeout=10)
        wait_for(lambda: primary(system, http) == "tempo", timeout=30, interval=0.3)
        back = receive(socket, "provider:switched")["data"]
        assert (back["from"], back["to"]) == ("circle", "tempo"), back


def test_the_reserve_reconciles_after_all_of_it(system: RunningRuntime, http: httpx.Client) -> None:
    report = reconcile(system, http)
    assert report["status"] == "balanced", report
    assert report["discrepancy"] == "0.000000"
    assert report["checks"] == {
        "reserve_backs_supply": "passed",
        "ledger_sums_to_zero": "passed",
        "accounts_match_totals": "passed",
        "provider_supply": "passed",
    }
    usdc = next(a for a in report["assets"] if a["asset"] == "USDC")
    # The ledger's outstanding USDC is what Tempo and Circle hold together, to the unit.
    assert int(usdc["outstanding"].replace(".", "")) == sum(supply(system).values())
    assert report["total_tokens_minted"] == usdc["outstanding"]
