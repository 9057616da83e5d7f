"""The HTTP adapters on httpx.MockTransport: retries resend the same idempotency key, errors map cleanly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from shared.adapters.circle import CircleProvider, circle_idempotency_key
from shared.adapters.tempo import TempoProvider
from shared.providers.errors import INSUFFICIENT_FUNDS, ProviderCallFailed, ProviderRejected
from shared.providers.models import Asset, HealthStatus, Transfer
from shared.providers.retry import RetryPolicy

ADDRESS = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers with the scripted responses in order and keeps every request it saw."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(recorder: Recorder, base: str) -> httpx.Client:
    return httpx.Client(base_url=base, transport=httpx.MockTransport(recorder))


def no_wait() -> tuple[RetryPolicy, list[float]]:
    waits: list[float] = []
    return RetryPolicy(attempts=3, base_delay_s=0.1, sleep=waits.append), waits


TEMPO_TX = {
    "id": "ttx_1",
    "hash": "0x" + "0" * 64,
    "status": "confirmed",
    "asset": "USDC",
    "amount": "1500000",
}


def test_tempo_retries_a_mint_with_the_same_key_and_body() -> None:
    timeout = httpx.ReadTimeout("slow")
    recorder = Recorder(
        timeout,
        httpx.Response(503, json={"error": {"code": "unavailable"}}),
        httpx.Response(200, json=TEMPO_TX),
    )
    policy, waits = no_wait()
    tempo = TempoProvider(client(recorder, "http://tempo"), "tempo_key", policy)
    tx = tempo.mint(Asset.USDC, 1_500_000, ADDRESS, "fund-wal_1")
    assert (tx.tx_id, tx.amount_minor, tx.asset, tx.provider) == ("ttx_1", 1_500_000, Asset.USDC, "tempo")
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == ["fund-wal_1"] * 3
    assert len({r.content for r in recorder.requests}) == 1
    assert json.loads(recorder.requests[0].content) == {"asset": "USDC", "amount": "1500000", "to": ADDRESS}
    assert recorder.requests[0].headers["Authorization"] == "Bearer tempo_key"
    assert waits == [0.1, 0.2]


def test_tempo_honours_retry_after_within_the_cap() -> None:
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "1.5"}), httpx.Response(200, json=TEMPO_TX)
    )
    policy, waits = no_wait()
    TempoProvider(client(recorder, "http://tempo"), "k", policy).mint(Asset.USDC, 1_500_000, ADDRESS, "k1")
    assert waits == [1.5]


def test_tempo_gives_up_after_bounded_attempts() -> None:
    recorder = Recorder(*(httpx.ConnectError("refused") for _ in range(3)))
    policy, _ = no_wait()
    with pytest.raises(ProviderCallFailed) as caught:
        TempoProvider(client(recorder, "http://tempo"), "k", policy).mint(Asset.USDC, 1, ADDRESS, "k1")
    assert len(recorder.requests) == 3
    assert caught.value.status == 503 and caught.value.code == "provider_unavailable"


def test_tempo_4xx_is_a_rejection_without_retry() -> None:
    body = {"error": {"code": "insufficient_balance", "message": "holds 0"}}
    recorder = Recorder(httpx.Response(400, json=body))
    with pytest.raises(ProviderRejected) as caught:
        TempoProvider(client(recorder, "http://tempo"), "k", no_wait()[0]).burn(Asset.USDC, 5, ADDRESS, "b1")
    assert caught.value.reason == INSUFFICIENT_FUNDS and caught.value.code == "insufficient_balance"
    assert len(recorder.requests) == 1


def test_tempo_401_is_an_outage_not_a_rejection() -> None:
    recorder = Recorder(httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no key"}}))
    with pytest.raises(ProviderCallFailed):
        TempoProvider(client(recorder, "http://tempo"), "", no_wait()[0]).balance(Asset.USDC, ADDRESS)


def test_tempo_health_maps_down_and_degraded() -> None:
    answers = Recorder(
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"status": "degraded", "tps": "3.5", "error_rate": "0.2"}),
        httpx.Response(200, json={"status": "ok", "tps": "1.00", "error_rate": "0"}),
    )
    tempo = TempoProvider(client(answers, "http://tempo"), "k", no_wait()[0])
    down = tempo.health()
    assert down.status is HealthStatus.DOWN and down.error and "timeout" in down.error
    degraded = tempo.health()
    assert degraded.status is HealthStatus.DEGRADED and str(degraded.tps) == "3.5"
    assert tempo.health().status is HealthStatus.HEALTHY
    assert len(answers.requests) == 3  # a probe is never retried


def test_circle_key_is_a_deterministic_uuid_in_v4_form() -> None:
    key = circle_idempotency_key("fund-wal_1", "mint")
    parsed = uuid.UUID(key)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert key == circle_idempotency_key("fund-wal_1", "mint")
    assert key != circle_idempotency_key("fund-wal_1", "burn")
    assert key != circle_idempotency_key("fund-wal_2", "mint")
    expected = uuid.uuid5(uuid.UUID("6f1c2f3e-9b7a-5d24-8e51-4a0d3c7b9e12"), "mint:fund-wal_1")
    assert parsed.bytes[:6] == expected.bytes[:6]


CIRCLE_TX = {
    "data": {
        "id": "b8627ae8-732b-4d25-b947-1df8f4007a29",
        "amount": {"amount": "1.5", "currency": "USD"},
        "transactionHash": "0x" + "1" * 64,
        "status": "complete",
    }
}


def test_circle_retried_mint_sends_the_same_idempotency_key_in_the_body() -> None:
    recorder = Recorder(
        httpx.Response(500, json={"code": -1, "message": "Something went wrong"}),
        httpx.ReadTimeout("x"),
        httpx.Response(201, json=CIRCLE_TX),
    )
    circle = CircleProvider(client(recorder, "http://circle"), "TEST_API_KEY:a:b", no_wait()[0])
    tx = circle.mint(Asset.USDC, 1_500_000, ADDRESS, "fund-wal_1")
    assert (tx.amount_minor, tx.status, tx.provider) == (1_500_000, "complete", "circle")
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert len(bodies) == 3 and all(b == bodies[0] for b in bodies)
    assert bodies[0] == {
        "idempotencyKey": circle_idempotency_key("fund-wal_1", "mint"),
        "destination": {"type": "blockchain", "address": ADDRESS, "chain": "ETH"},
        "amount": {"amount": "1.5", "currency": "USD"},
    }
    assert recorder.requests[0].url.path == "/v1/businessAccount/transfers"


def test_circle_amounts_are_exact_decimal_strings() -> None:
    data = {**CIRCLE_TX["data"], "amount": {"amount": "0.000001", "currency": "EUR"}}
    recorder = Recorder(httpx.Response(201, json={"data": data}))
    circle = CircleProvider(client(recorder, "http://circle"), "k", no_wait()[0])
    tx = circle.batch_transfer(Asset.EURC, [Transfer(OTHER, 1)], ADDRESS, "b")
    assert tx.amount_minor == 1 and tx.asset is Asset.EURC
    sent = json.loads(recorder.requests[0].content)
    assert sent["transfers"] == [
        {
            "destination": {"type": "blockchain", "address": OTHER, "chain": "ETH"},
            "amount": {"amount": "0.000001", "currency": "EUR"},
        }
    ]


@pytest.mark.parametrize(
    ("code", "reason"), [(1091, "insufficient_funds"), (1083, "idempotency_conflict"), (2, "invalid_request")]
)
def test_circle_error_codes_map_to_reasons(code: int, reason: str) -> None:
    recorder = Recorder(httpx.Response(400 if code != 1083 else 409, json={"code": code, "message": "no"}))
    circle = CircleProvider(client(recorder, "http://circle"), "k", no_wait()[0])
    with pytest.raises(ProviderRejected) as caught:
        circle.transfer(Asset.USDC, 1, ADDRESS, OTHER, "t1")
    assert caught.value.reason == reason
