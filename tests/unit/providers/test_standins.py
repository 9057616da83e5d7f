"""The Tempo and Circle stand-ins in process: ledger, idempotency, refusals and injected faults."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from local.circle.app import CircleStandIn
from local.tempo.app import TempoStandIn

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
AUTH = {"Authorization": "Bearer tempo_test_key"}
CIRCLE_AUTH = {"Authorization": "Bearer TEST_API_KEY:abc:def"}


@pytest.fixture
def tempo() -> TestClient:
    return TestClient(TempoStandIn(seed=7).app)


@pytest.fixture
def circle() -> TestClient:
    return TestClient(CircleStandIn(seed=7).app)


def post(api: TestClient, path: str, body: dict[str, Any], key: str) -> Any:
    return api.post(path, json=body, headers={**AUTH, "Idempotency-Key": key})


def state(api: TestClient) -> dict[str, Any]:
    return dict(api.get("/_control/state").json())


def test_tempo_mint_burn_transfer_move_balances_and_supply(tempo: TestClient) -> None:
    assert post(tempo, "/v1/mints", {"asset": "USDC", "amount": "5000000", "to": A}, "m1").status_code == 200
    assert (
        post(tempo, "/v1/transfers", {"asset": "USDC", "amount": "1250000", "from": A, "to": B}, "t1").json()[
            "status"
        ]
        == "confirmed"
    )
    assert post(tempo, "/v1/burns", {"asset": "USDC", "amount": "250000", "from": B}, "b1").status_code == 200
    assert (
        tempo.get(f"/v1/balances/{A}", params={"asset": "USDC"}, headers=AUTH).json()["amount"] == "3750000"
    )
    assert (
        tempo.get(f"/v1/balances/{B}", params={"asset": "USDC"}, headers=AUTH).json()["amount"] == "1000000"
    )
    assert tempo.get("/v1/supply/USDC", headers=AUTH).json() == {"asset": "USDC", "total_supply": "4750000"}
    assert [op["kind"] for op in state(tempo)["operations"]] == ["mint", "transfer", "burn"]


def test_tempo_same_key_same_body_replays_without_a_second_effect(tempo: TestClient) -> None:
    body = {"asset": "USDT", "amount": "1000000", "to": A}
    first, second = post(tempo, "/v1/mints", body, "m1"), post(tempo, "/v1/mints", body, "m1")
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert state(tempo)["supply"] == {"USDT": 1_000_000} and len(state(tempo)["operations"]) == 1


def test_tempo_same_key_other_body_is_422(tempo: TestClient) -> None:
    post(tempo, "/v1/mints", {"asset": "USDC", "amount": "1", "to": A}, "m1")
    reused = post(tempo, "/v1/mints", {"asset": "USDC", "amount": "2", "to": A}, "m1")
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert state(tempo)["supply"] == {"USDC": 1}


def test_tempo_refuses_beyond_the_balance_and_changes_nothing(tempo: TestClient) -> None:
    post(tempo, "/v1/mints", {"asset": "USDC", "amount": "100", "to": A}, "m1")
    burn = post(tempo, "/v1/burns", {"asset": "USDC", "amount": "101", "from": A}, "b1")
    assert burn.status_code == 400 and burn.json()["error"]["code"] == "insufficient_balance"
    legs = [{"to": B, "amount": "60"}, {"to": C, "amount": "60"}]
    batch = post(tempo, "/v1/transfers/batch", {"asset": "USDC", "from": A, "transfers": legs}, "bt1")
    assert batch.status_code == 400
    assert state(tempo)["balances"] == {A: {"USDC": 100}} and state(tempo)["supply"] == {"USDC": 100}
    # the refusal is the key's answer too: a retry does not slip through once funds arrive
    post(tempo, "/v1/mints", {"asset": "USDC", "amount": "100", "to": A}, "m2")
    assert post(tempo, "/v1/burns", {"asset": "USDC", "amount": "101", "from": A}, "b1").status_code == 400


def test_tempo_validates_input_and_auth(tempo: TestClient) -> None:
    assert tempo.post("/v1/mints", json={}, headers={"Idempotency-Key": "k"}).status_code == 401
    assert (
        tempo.post("/v1/mints", json={"asset": "USDC", "amount": "1", "to": A}, headers=AUTH).status_code
        == 400
    )
    for bad in ({"asset": "DOGE", "amount": "1", "to": A}, {"asset": "USDC", "amount": "1.5", "to": A},
                {"asset": "USDC", "amount": "1", "to": "0x12"}):  # fmt: skip
        assert post(tempo, "/v1/mints", bad, f"k-{bad}").status_code == 400
    assert state(tempo)["supply"] == {}


def test_tempo_swap_uses_the_fixed_rate(tempo: TestClient) -> None:
    post(tempo, "/v1/mints", {"asset": "EURC", "amount": "1000000", "to": A}, "m1")
    swap = post(
        tempo,
        "/v1/swaps",
        {"from_asset": "EURC", "to_asset": "USDC", "amount": "1000000", "address": A},
        "s1",
    )
    assert swap.json()["amount_out"] == "1080000" and swap.json()["rate"] == "1.080000"
    assert state(tempo)["balances"][A] == {"EURC": 0, "USDC": 1_080_000}
    assert state(tempo)["supply"] == {"EURC": 0, "USDC": 1_080_000}


def test_fail_next_n_then_recover_without_effects(tempo: TestClient) -> None:
    tempo.post("/_control/fail", json={"status": 503, "count": 2, "path": "/v1/mints"})
    body = {"asset": "USDC", "amount": "7", "to": A}
    assert [post(tempo, "/v1/mints", body, "m1").status_code for _ in range(3)] == [503, 503, 200]
    assert state(tempo)["supply"] == {"USDC": 7}


def failure_pattern(seed: int) -> list[int]:
    api = TestClient(TempoStandIn(seed=seed).app)
    api.post("/_control/fail", json={"status": 500, "probability": 0.5})
    return [api.get("/v1/supply/USDC", headers=AUTH).status_code for _ in range(30)]


def test_probabilistic_failures_are_deterministic_per_seed() -> None:
    first, again, other = failure_pattern(11), failure_pattern(11), failure_pattern(12)
    assert first == again
    assert first != other
    assert 0 < first.count(500) < 30


def test_down_and_up(tempo: TestClient) -> None:
    tempo.post("/_control/down")
    assert tempo.get("/v1/health", headers=AUTH).status_code == 503
    assert post(tempo, "/v1/mints", {"asset": "USDC", "amount": "1", "to": A}, "m1").status_code == 503
    tempo.post("/_control/up")
    assert tempo.get("/v1/health", headers=AUTH).json()["status"] == "ok"
    assert post(tempo, "/v1/mints", {"asset": "USDC", "amount": "1", "to": A}, "m1").status_code == 200


def test_reset_clears_ledger_keys_and_faults(tempo: TestClient) -> None:
    post(tempo, "/v1/mints", {"asset": "USDC", "amount": "1", "to": A}, "m1")
    tempo.post("/_control/down")
    tempo.post("/_control/reset")
    after = state(tempo)
    assert (after["supply"], after["idempotency_keys"], after["faults"]["down"]) == ({}, 0, False)


def circle_key() -> str:
    return str(uuid.uuid4())


def circle_mint(circle: TestClient, amount: str, key: str, to: str = A, currency: str = "USD") -> Any:
    body = {
        "idempotencyKey": key,
        "destination": {"type": "blockchain", "address": to, "chain": "ETH"},
        "amount": {"amount": amount, "currency": currency},
    }
    return circle.post("/v1/businessAccount/transfers", json=body, headers=CIRCLE_AUTH)


def test_circle_mint_is_idempotent_by_body_key(circle: TestClient) -> None:
    key = circle_key()
    first, second = circle_mint(circle, "12.5", key), circle_mint(circle, "12.5", key)
    assert first.status_code == 201 and first.json() == second.json()
    assert first.json()["data"]["amount"] == {"amount": "12.5", "currency": "USD"}
    conflict = circle_mint(circle, "13", key)
    assert conflict.status_code == 409 and conflict.json()["code"] == 1083
    coins = circle.get("/v1/stablecoins", headers=CIRCLE_AUTH).json()["data"]
    assert next(c for c in coins if c["symbol"] == "USDC")["totalAmount"] == "12.5"


def test_circle_demands_uuid4_keys_keys_and_6_decimals(circle: TestClient) -> None:
    assert circle_mint(circle, "1", "not-a-uuid").json()["code"] == 2
    assert circle_mint(circle, "1", str(uuid.uuid1())).status_code == 400
    assert circle_mint(circle, "0.0000001", circle_key()).status_code == 400
    unauthenticated = circle.post(
        "/v1/businessAccount/transfers", json={}, headers={"Authorization": "Bearer x"}
    )
    assert unauthenticated.status_code == 401
    assert circle.get("/ping").json() == {"message": "pong"}


def test_circle_balances_burn_refusal_and_swap(circle: TestClient) -> None:
    circle_mint(circle, "2", circle_key())
    burn = {
        "idempotencyKey": circle_key(),
        "source": {"type": "blockchain", "address": A, "chain": "ETH"},
        "amount": {"amount": "2.000001", "currency": "USD"},
    }
    refused = circle.post("/v1/businessAccount/burns", json=burn, headers=CIRCLE_AUTH)
    assert refused.status_code == 400 and refused.json()["code"] == 1091
    quote = circle.post(
        "/v1/exchange/quotes",
        json={
            "idempotencyKey": circle_key(),
            "type": "tradable",
            "from": {"amount": "1.08", "currency": "USD"},
            "to": {"currency": "EUR", "amount": None},
        },
        headers=CIRCLE_AUTH,
    ).json()["data"]
    trade = circle.post(
        "/v1/exchange/trades",
        json={
            "idempotencyKey": circle_key(),
            "quoteId": quote["id"],
            "destination": {"type": "blockchain", "address": A, "chain": "ETH"},
        },
        headers=CIRCLE_AUTH,
    ).json()["data"]
    # USD->EUR at 1/1.08 truncated to 6 places (0.925925): the stand-in never rounds in the payer's favour
    assert trade["to"] == {"amount": "0.999999", "currency": "EUR"}
    balances = circle.get(f"/v1/w3s/addresses/{A}/balances", headers=CIRCLE_AUTH).json()["data"][
        "tokenBalances"
    ]
    assert {b["token"]["symbol"]: b["amount"] for b in balances} == {"EURC": "0.999999", "USDC": "0.92"}
