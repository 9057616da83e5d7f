"""The Stripe Issuing adapter against the local stand-in: cards, limits, cancellation, error mapping."""

from __future__ import annotations

import socket

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.cards.ports import CardholderAddress, ProcessorRejected
from shared.errors import DependencyUnavailable, NotFound, ValidationFailed
from tests.integration.conftest import STRIPE_TEST_KEY
from tests.unit.stripe_standin.conftest import control

KEY = STRIPE_TEST_KEY
ADDRESS = CardholderAddress(
    line1="1 Market St", city="San Francisco", postal_code="94105", country="US", state="CA"
)


@pytest.fixture
def issuer(sdk: stripe.StripeClient) -> StripeCardIssuer:
    return StripeCardIssuer(sdk)


@pytest.fixture
def holder(issuer: StripeCardIssuer) -> str:
    return issuer.create_cardholder(
        "ten_demo", "Demo Merchant LLC", "ops@demo.test", ADDRESS, "holder-ten_demo"
    )


def test_card_is_single_use_and_capped_twice_at_the_invoice_amount(
    issuer: StripeCardIssuer, holder: str, sdk: stripe.StripeClient
) -> None:
    card = issuer.create_card("wal_123", holder, 25_000, "USD", "card-wal_123")
    assert card.card_id.startswith("ic_") and len(card.last4) == 4
    assert (card.status, card.spending_limit_minor, card.currency, card.wallet_id) == (
        "active",
        25_000,
        "usd",
        "wal_123",
    )
    stored = sdk.v1.issuing.cards.retrieve(card.card_id)
    limits = sorted((s.interval, s.amount) for s in stored.spending_controls.spending_limits)
    assert limits == [("all_time", 25_000), ("per_authorization", 25_000)]
    assert stored.metadata.to_dict() == {"wallet_id": "wal_123", "single_use": "true"}
    assert stored.type == "virtual" and stored.cardholder.id == holder
    assert stored.cardholder.metadata.to_dict() == {"tenant_id": "ten_demo"}


def test_create_card_with_the_same_key_issues_one_card(
    issuer: StripeCardIssuer, holder: str, sdk: stripe.StripeClient
) -> None:
    first = issuer.create_card("wal_1", holder, 5_000, "usd", "card-wal_1")
    again = issuer.create_card("wal_1", holder, 5_000, "usd", "card-wal_1")
    assert again.card_id == first.card_id
    assert [c.id for c in sdk.v1.issuing.cards.list(params={"cardholder": holder}).data] == [first.card_id]


@pytest.mark.parametrize("limit", [0, -5, True, 10.5])
def test_a_limit_must_be_positive_integer_minor_units(
    issuer: StripeCardIssuer, holder: str, limit: object
) -> None:
    with pytest.raises(ValidationFailed):
        issuer.create_card("wal_1", holder, limit, "usd", "k")  # type: ignore[arg-type]


def test_remaining_limit_counts_only_approved_authorizations(
    issuer: StripeCardIssuer, holder: str, sdk: stripe.StripeClient
) -> None:
    card = issuer.create_card("wal_2", holder, 1_000, "usd", "card-wal_2")
    assert issuer.remaining_limit(card.card_id) == 1_000
    approved = sdk.v1.test_helpers.issuing.authorizations.create(params={"card": card.card_id, "amount": 650})
    declined = sdk.v1.test_helpers.issuing.authorizations.create(params={"card": card.card_id, "amount": 351})
    assert approved.approved and not declined.approved
    assert issuer.remaining_limit(card.card_id) == 350


def test_remaining_limit_pages_through_many_authorizations(
    issuer: StripeCardIssuer, holder: str, sdk: stripe.StripeClient
) -> None:
    card = issuer.create_card("wal_3", holder, 100_000, "usd", "card-wal_3")
    for _ in range(105):
        sdk.v1.test_helpers.issuing.authorizations.create(params={"card": card.card_id, "amount": 100})
    assert issuer.remaining_limit(card.card_id) == 100_000 - 105 * 100


def test_deactivate_is_final_and_idempotent(
    issuer: StripeCardIssuer, holder: str, sdk: stripe.StripeClient
) -> None:
    card = issuer.create_card("wal_4", holder, 2_000, "usd", "card-wal_4")
    canceled = issuer.deactivate_card(card.card_id, "destroy-wal_4-schedule")
    assert canceled.status == "canceled"
    assert issuer.deactivate_card(card.card_id, "destroy-wal_4-ttl").status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.issuing.cards.update(card.card_id, params={"status": "active"})
    after = sdk.v1.test_helpers.issuing.authorizations.create(params={"card": card.card_id, "amount": 1})
    assert after.approved is False
    assert issuer.get_card(card.card_id).status == "canceled"


def test_unknown_card_is_not_found(issuer: StripeCardIssuer) -> None:
    with pytest.raises(NotFound):
        issuer.get_card("ic_missing")
    with pytest.raises(NotFound):
        issuer.deactivate_card("ic_missing", "k")


def test_unknown_cardholder_is_rejected_as_our_bug(issuer: StripeCardIssuer) -> None:
    with pytest.raises(ProcessorRejected) as caught:
        issuer.create_card("wal_5", "ich_nobody", 1_000, "usd", "k5")
    assert caught.value.processor_code == "resource_missing"


def test_outage_and_rate_limit_are_dependency_unavailable(
    issuer: StripeCardIssuer, holder: str, standin: BackgroundStandIn
) -> None:
    control(standin, "POST", "/_control/down", {"down": True})
    with pytest.raises(DependencyUnavailable) as caught:
        issuer.create_card("wal_6", holder, 1_000, "usd", "k6")
    assert caught.value.status == 503
    control(standin, "POST", "/_control/down", {"down": False})
    control(standin, "POST", "/_control/fail", {"path": "/v1/issuing/cards", "status": 429})
    with pytest.raises(DependencyUnavailable):
        issuer.create_card("wal_6", holder, 1_000, "usd", "k6")
    assert issuer.create_card("wal_6", holder, 1_000, "usd", "k6").status == "active"


def test_unreachable_stripe_is_dependency_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    issuer = StripeCardIssuer(
        build_stripe_client(KEY, f"http://127.0.0.1:{closed_port}", max_network_retries=0)
    )
    with pytest.raises(DependencyUnavailable):
        issuer.get_card("ic_any")


def test_retries_ride_out_one_server_error(holder: str, standin: BackgroundStandIn) -> None:
    issuer = StripeCardIssuer(build_stripe_client(KEY, standin.base_url))
    control(standin, "POST", "/_control/fail", {"path": "/v1/issuing/cards", "status": 500})
    card = issuer.create_card("wal_7", holder, 1_000, "usd", "card-wal_7")
    assert card.status == "active"


def test_a_refused_key_is_processor_rejected(standin: BackgroundStandIn) -> None:
    issuer = StripeCardIssuer(
        build_stripe_client("sk_live_wrong_env", standin.base_url, max_network_retries=0)
    )
    with pytest.raises(ProcessorRejected):
        issuer.get_card("ic_any")
