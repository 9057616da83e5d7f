"""Idempotency-Key as Stripe honours it: replay, mismatch, per-key scoping, in-flight conflicts."""

from __future__ import annotations

import threading
import time

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import control, raw

AUTH = {"Authorization": "Bearer sk_test_unit"}
FORM = "amount=1500&currency=usd&payment_method=pm_card_visa&confirm=true"


def _intent_count(client: stripe.StripeClient) -> int:
    events = client.v1.events.list(params={"type": "payment_intent.created", "limit": 100})
    return len(events.data)


def test_same_key_same_params_replays_the_first_response(client: stripe.StripeClient) -> None:
    params = {"amount": 1_500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "order-1"})  # type: ignore[arg-type]
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": "order-1"})  # type: ignore[arg-type]
    assert second.id == first.id and second.latest_charge == first.latest_charge
    assert first.last_response is not None and second.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert _intent_count(client) == 1


def test_same_key_different_params_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.payment_intents.create(
        params={"amount": 1_500, "currency": "usd"}, options={"idempotency_key": "k"}
    )
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.payment_intents.create(
            params={"amount": 1_600, "currency": "usd"}, options={"idempotency_key": "k"}
        )
    assert caught.value.http_status == 400
    assert caught.value.json_body["error"]["type"] == "idempotency_error"  # type: ignore[index]
    assert _intent_count(client) == 1


def test_same_key_on_another_path_is_an_idempotency_error(standin: BackgroundStandIn) -> None:
    headers = {**AUTH, "Idempotency-Key": "shared"}
    status, _, _ = raw(standin, "POST", "/v1/payment_intents", "amount=900&currency=usd", headers)
    assert status == 200
    status, _, body = raw(standin, "POST", "/v1/refunds", "payment_intent=pi_x", headers)
    assert status == 400 and body["error"]["type"] == "idempotency_error"


def test_keys_are_scoped_per_api_key(standin: BackgroundStandIn) -> None:
    first = raw(standin, "POST", "/v1/payment_intents", FORM, {**AUTH, "Idempotency-Key": "k"})
    other_key = {"Authorization": "Bearer sk_test_other", "Idempotency-Key": "k"}
    second = raw(standin, "POST", "/v1/payment_intents", FORM, other_key)
    assert first[2]["id"] != second[2]["id"]
    assert "idempotent-replayed" not in second[1]


def test_a_decline_is_replayed_not_retried(standin: BackgroundStandIn) -> None:
    form = "amount=1500&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true"
    headers = {**AUTH, "Idempotency-Key": "declined-once"}
    status, _, first = raw(standin, "POST", "/v1/payment_intents", form, headers)
    status_again, replay_headers, again = raw(standin, "POST", "/v1/payment_intents", form, headers)
    assert status == status_again == 402
    assert again == first and replay_headers["idempotent-replayed"] == "true"


def test_validation_failures_are_not_saved(standin: BackgroundStandIn) -> None:
    headers = {**AUTH, "Idempotency-Key": "fix-and-retry"}
    status, _, _ = raw(standin, "POST", "/v1/payment_intents", "amount=1500", headers)
    assert status == 400
    status, replay, body = raw(standin, "POST", "/v1/payment_intents", "amount=1500&currency=usd", headers)
    assert status == 200 and body["object"] == "payment_intent" and "idempotent-replayed" not in replay


def test_concurrent_use_of_one_key_is_409(standin: BackgroundStandIn) -> None:
    control(standin, "POST", "/_control/latency", {"seconds": 0.5, "path": "/v1/payment_intents"})
    headers = {**AUTH, "Idempotency-Key": "racing"}
    results: list[int] = []
    started = threading.Event()

    def first_request() -> None:
        started.set()
        results.append(raw(standin, "POST", "/v1/payment_intents", FORM, headers)[0])

    worker = threading.Thread(target=first_request)
    worker.start()
    started.wait()
    # Wait (on the control API, which has no latency) until the first request holds the key.
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and not control(standin, "GET", "/_control/state")["idempotency_in_flight"]
    ):
        continue
    status, response_headers, body = raw(standin, "POST", "/v1/payment_intents", FORM, headers)
    worker.join()
    assert status == 409 and body["error"]["code"] == "idempotency_key_in_use"
    assert response_headers["stripe-should-retry"] == "true"
    assert results == [200]
