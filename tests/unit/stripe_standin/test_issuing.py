"""Issuing through the real SDK: cardholders, cards, secrets never returned, spending-limit authorizations."""

from __future__ import annotations

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import capped_card, cardholder, raw


def test_cardholder_round_trip(client: stripe.StripeClient) -> None:
    holder = cardholder(client, "Globex")
    fetched = client.v1.issuing.cardholders.retrieve(holder.id)
    assert holder.id.startswith("ich_")
    assert (fetched.name, fetched.type, fetched.status, fetched.livemode) == (
        "Globex",
        "company",
        "active",
        False,
    )
    assert fetched.billing.address.postal_code == "94103"


def test_cardholder_without_billing_address_names_the_param(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.issuing.cardholders.create(params={"name": "No Address", "type": "individual"})  # type: ignore[typeddict-item]
    assert caught.value.http_status == 400
    assert caught.value.param == "billing[address]"


def test_card_carries_limits_metadata_and_no_secrets(client: stripe.StripeClient) -> None:
    card = capped_card(client, limit=12_345)
    assert card.id.startswith("ic_") and card.object == "issuing.card"
    assert len(card.last4) == 4 and card.last4.isdigit()
    assert card.type == "virtual" and card.status == "active" and card.brand == "Visa"
    assert card.exp_year >= 2026 and 1 <= card.exp_month <= 12
    assert card.cardholder.object == "issuing.cardholder"
    limits = {(limit.interval, limit.amount) for limit in card.spending_controls.spending_limits}
    assert limits == {("all_time", 12_345), ("per_authorization", 12_345)}
    assert card.metadata.to_dict() == {"wallet_id": "wal_test", "single_use": "true"}
    wire = card.to_dict()
    assert "number" not in wire and "cvc" not in wire


@pytest.mark.parametrize("field", ["number", "cvc"])
def test_expanding_number_or_cvc_is_refused(client: stripe.StripeClient, field: str) -> None:
    card = capped_card(client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.issuing.cards.retrieve(card.id, params={"expand": [field]})
    assert caught.value.http_status == 400 and caught.value.param == "expand"


def test_cards_default_to_inactive_like_stripe(client: stripe.StripeClient) -> None:
    holder = cardholder(client)
    card = client.v1.issuing.cards.create(
        params={"cardholder": holder.id, "currency": "usd", "type": "virtual"}
    )
    assert card.status == "inactive"


def test_unknown_cardholder_and_unknown_param_are_400(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.issuing.cards.create(
            params={"cardholder": "ich_nope", "currency": "usd", "type": "virtual"}
        )
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        400,
        "resource_missing",
        "cardholder",
    )
    holder = cardholder(client)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.issuing.cards.create(
            params={"cardholder": holder.id, "currency": "usd", "type": "virtual", "colour": "red"}  # type: ignore[typeddict-unknown-key]
        )
    assert unknown.value.param == "colour"


def test_update_status_and_metadata_then_cancel_is_final(client: stripe.StripeClient) -> None:
    card = capped_card(client)
    paused = client.v1.issuing.cards.update(
        card.id, params={"status": "inactive", "metadata": {"note": "hold"}}
    )
    assert paused.status == "inactive"
    assert paused.metadata.to_dict() == {"wallet_id": "wal_test", "single_use": "true", "note": "hold"}
    canceled = client.v1.issuing.cards.update(card.id, params={"status": "canceled"})
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.issuing.cards.update(card.id, params={"status": "active"})
    assert caught.value.code == "card_canceled"
    assert client.v1.issuing.cards.retrieve(card.id).status == "canceled"


def test_update_replaces_spending_limits(client: stripe.StripeClient) -> None:
    card = capped_card(client, limit=500)
    updated = client.v1.issuing.cards.update(
        card.id, params={"spending_controls": {"spending_limits": [{"amount": 900, "interval": "daily"}]}}
    )
    assert [(s.amount, s.interval) for s in updated.spending_controls.spending_limits] == [(900, "daily")]


def test_list_filters_and_paginates(client: stripe.StripeClient) -> None:
    holder = cardholder(client)
    made = [
        client.v1.issuing.cards.create(
            params={"cardholder": holder.id, "currency": "usd", "type": "virtual", "status": "active"}
        ).id
        for _ in range(3)
    ]
    capped_card(client)
    first = client.v1.issuing.cards.list(params={"cardholder": holder.id, "limit": 2})
    assert [c.id for c in first.data] == [made[2], made[1]] and first.has_more is True
    second = client.v1.issuing.cards.list(
        params={"cardholder": holder.id, "limit": 2, "starting_after": made[1]}
    )
    assert [c.id for c in second.data] == [made[0]] and second.has_more is False
    client.v1.issuing.cards.update(made[0], params={"status": "canceled"})
    canceled = client.v1.issuing.cards.list(params={"cardholder": holder.id, "status": "canceled"})
    assert [c.id for c in canceled.data] == [made[0]]
    everything = list(client.v1.issuing.cards.list(params={"limit": 1}).auto_paging_iter())
    assert len(everything) == 4


def authorize(client: stripe.StripeClient, card_id: str, amount: int) -> stripe.issuing.Authorization:
    return client.v1.test_helpers.issuing.authorizations.create(
        params={
            "card": card_id,
            "amount": amount,
            "merchant_data": {"name": "Vendor", "category": "computer_software_stores"},
        }
    )


def test_authorizations_respect_per_authorization_and_all_time_limits(client: stripe.StripeClient) -> None:
    card = capped_card(client, limit=1_000)
    too_big = authorize(client, card.id, 1_001)
    assert too_big.approved is False and too_big.status == "closed"
    assert too_big.request_history[0].reason == "spending_controls"
    first = authorize(client, card.id, 600)
    assert first.approved is True and first.status == "pending" and first.amount == 600
    over_total = authorize(client, card.id, 401)
    assert over_total.approved is False
    exact_rest = authorize(client, card.id, 400)
    assert exact_rest.approved is True
    assert authorize(client, card.id, 1).approved is False
    listed = client.v1.issuing.authorizations.list(params={"card": card.id, "limit": 100})
    assert sum(a.amount for a in listed.data if a.approved) == 1_000
    assert len(listed.data) == 5
    assert client.v1.issuing.authorizations.retrieve(first.id).merchant_data.name == "Vendor"


@pytest.mark.parametrize("status", ["inactive", "canceled"])
def test_cards_not_active_decline_every_authorization(client: stripe.StripeClient, status: str) -> None:
    card = capped_card(client, status="active")
    client.v1.issuing.cards.update(card.id, params={"status": status})  # type: ignore[typeddict-item]
    declined = authorize(client, card.id, 1)
    assert declined.approved is False
    assert declined.request_history[0].reason == (
        "card_canceled" if status == "canceled" else "card_inactive"
    )


def test_missing_and_bad_keys_are_401(standin: BackgroundStandIn) -> None:
    status, _, body = raw(standin, "GET", "/v1/issuing/cards")
    assert status == 401 and "did not provide an API key" in body["error"]["message"]
    status, _, body = raw(
        standin, "GET", "/v1/issuing/cards", headers={"Authorization": "Bearer sk_live_real"}
    )
    assert status == 401 and body["error"]["message"].startswith("Invalid API Key provided")
    bad = stripe.StripeClient("garbage", base_addresses={"api": standin.base_url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.issuing.cards.list()


def test_unknown_route_is_stripes_404(standin: BackgroundStandIn) -> None:
    status, _, body = raw(standin, "GET", "/v1/widgets", headers={"Authorization": "Bearer sk_test_x"})
    assert status == 404 and body["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/widgets)"
    )
