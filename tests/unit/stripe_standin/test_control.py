"""The /_control/ API: injected failures, outages, latency, reset, and state kept across restarts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import stripe

from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import API_KEY, WEBHOOK_SECRET, capped_card, control
from tests.unit.stripe_standin.receiver import WebhookReceiver


def test_fail_next_n_requests_of_a_path_with_500(
    client: stripe.StripeClient, standin: BackgroundStandIn
) -> None:
    control(standin, "POST", "/_control/fail", {"path": "/v1/payment_intents", "count": 2, "status": 500})
    params = {"amount": 900, "currency": "usd"}
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]
        assert caught.value.http_status == 500
    assert client.v1.payment_intents.create(params=params).status == "requires_payment_method"  # type: ignore[arg-type]
    assert capped_card(client).status == "active"


def test_fail_with_a_chosen_stripe_error(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    control(
        standin,
        "POST",
        "/_control/fail",
        {
            "path": "/v1/payment_intents",
            "method": "POST",
            "status": 402,
            "error": {"decline_code": "do_not_honor"},
        },
    )
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    assert caught.value.code == "card_declined" and caught.value.error.decline_code == "do_not_honor"


def test_rate_limit_injection(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    control(standin, "POST", "/_control/fail", {"path": "/v1/issuing", "status": 429})
    with pytest.raises(stripe.RateLimitError):
        client.v1.issuing.cards.list()


def test_sdk_retries_an_injected_500_with_the_same_idempotency_key(standin: BackgroundStandIn) -> None:
    retrying = stripe.StripeClient(API_KEY, base_addresses={"api": standin.base_url}, max_network_retries=1)
    control(standin, "POST", "/_control/fail", {"path": "/v1/payment_intents", "status": 500})
    intent = retrying.v1.payment_intents.create(
        params={"amount": 900, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert intent.status == "succeeded"
    assert len(retrying.v1.events.list(params={"type": "payment_intent.created"}).data) == 1


def test_down_then_up(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    control(standin, "POST", "/_control/down", {"down": True})
    with pytest.raises(stripe.APIError) as caught:
        client.v1.issuing.cards.list()
    assert caught.value.http_status == 503
    control(standin, "POST", "/_control/down", {"down": False})
    assert client.v1.issuing.cards.list().data == []


def test_latency_slows_matching_paths_only(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    control(standin, "POST", "/_control/latency", {"seconds": 0.3, "path": "/v1/issuing"})
    started = time.monotonic()
    client.v1.issuing.cards.list()
    slow = time.monotonic() - started
    started = time.monotonic()
    client.v1.refunds.list()
    fast = time.monotonic() - started
    assert slow >= 0.3 and fast < 0.3


def test_reset_forgets_everything(client: stripe.StripeClient, standin: BackgroundStandIn) -> None:
    card = capped_card(client)
    control(standin, "POST", "/_control/fail", {"status": 500, "count": 5})
    control(standin, "POST", "/_control/reset")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.issuing.cards.retrieve(card.id)
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    assert control(standin, "GET", "/_control/state")["objects"] == {}


def test_bad_control_input_is_400(standin: BackgroundStandIn) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as caught:
        control(standin, "POST", "/_control/fail", {"status": 418})
    assert caught.value.code == 400


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    with BackgroundStandIn(Options(state_file=state)) as first:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": first.base_url}, max_network_retries=0)
        card = capped_card(client, limit=4_200)
        replayed_key = client.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd"}, options={"idempotency_key": "persisted"}
        )
    with BackgroundStandIn(Options(state_file=state)) as second:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": second.base_url}, max_network_retries=0)
        again = client.v1.issuing.cards.retrieve(card.id)
        assert again.spending_controls.spending_limits[0].amount == 4_200
        replay = client.v1.payment_intents.create(
            params={"amount": 900, "currency": "usd"}, options={"idempotency_key": "persisted"}
        )
        assert replay.id == replayed_key.id


def test_ach_delay_settles_processing_payments_by_itself(receiver: WebhookReceiver) -> None:
    receiver.reset()
    options = Options(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, ach_delay_seconds=0.05)
    with BackgroundStandIn(options) as server:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": server.base_url}, max_network_retries=0)
        intent = client.v1.payment_intents.create(
            params={"amount": 5_000, "currency": "usd", "payment_method": "pm_usBankAccount", "confirm": True}
        )
        assert intent.status == "processing"
        receiver.wait_for(lambda got: any(b'"payment_intent.succeeded"' in item.body for item in got))
        assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
