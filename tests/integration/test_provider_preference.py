"""X-Provider-Preference on the money routes and X-Provider-Used on their answers, on moto with the Stripe,
Tempo and Circle stand-ins: a healthy preferred provider is used; an unhealthy one falls back to the normal
routing without an error; an unknown value is 400 and charges nothing."""

from __future__ import annotations

from typing import Any

import pytest

import tests.integration.test_funding_api as funding_fixtures
import tests.integration.test_pay_destroy as destroy_fixtures
from shared import bootstrap
from tests.integration.conftest import FakeLambdaContext, api_event, body_of
from tests.integration.test_funding_api import Env
from tests.integration.test_pay_destroy import Paying

servers = funding_fixtures.servers
env = funding_fixtures.env
paying = destroy_fixtures.paying


def fund(env: Env, wallet_id: str, preference: str | None) -> dict[str, Any]:
    headers = {"Idempotency-Key": f"pref-{wallet_id}"}
    if preference is not None:
        headers["X-Provider-Preference"] = preference
    event = api_event(
        "POST",
        f"/api/v2/invoice-wallets/{wallet_id}/fund",
        body={"payment_method": "pm_card_visa"},
        headers=headers,
    )
    return dict(env.fund_fn.lambda_handler(event, FakeLambdaContext(function_name="fund")))


def header(response: dict[str, Any], name: str) -> str | None:
    """A header of the answer as API Gateway (v1) receives it: multi-value headers, else single."""
    multi = response.get("multiValueHeaders") or {}
    if name in multi:
        return str(multi[name][0])
    single = response.get("headers") or {}
    return str(single[name]) if name in single else None


def checked(env: Env) -> None:
    """The scheduled health check has recorded both providers (an unchecked one is never preferred)."""
    bootstrap.app().provider_checks.run()


def test_a_healthy_preferred_provider_mints_and_is_named_in_x_provider_used(env: Env) -> None:
    checked(env)
    wallet_id = env.wallet()
    response = fund(env, wallet_id, "circle")
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["data"]["provider"] == "circle"
    assert header(response, "X-Provider-Used") == "circle"
    assert env.chain(env.circle)["supply"].get("USDC", 0) > 0
    assert env.chain(env.tempo)["supply"].get("USDC", 0) == 0
    # The replayed answer names it too.
    replayed = fund(env, wallet_id, "circle")
    assert header(replayed, "X-Provider-Used") == "circle"
    assert header(replayed, "Idempotent-Replayed") == "true"


def test_without_a_preference_the_normal_routing_answers_with_its_provider(env: Env) -> None:
    checked(env)
    response = fund(env, env.wallet(), None)
    assert response["statusCode"] == 200
    assert header(response, "X-Provider-Used") == "tempo"


def test_an_unhealthy_preferred_provider_falls_back_without_an_error(env: Env) -> None:
    env.circle.post("/_control/down")
    checked(env)
    response = fund(env, env.wallet(), "circle")
    assert response["statusCode"] == 200, response["body"]
    assert header(response, "X-Provider-Used") == "tempo"
    assert env.chain(env.tempo)["supply"].get("USDC", 0) > 0


@pytest.mark.parametrize("value", ["solana", "TEMPO", ""])
def test_an_unknown_preference_is_a_validation_error_and_charges_nothing(env: Env, value: str) -> None:
    checked(env)
    response = fund(env, env.wallet(), value)
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == "validation_error"
    assert header(response, "X-Provider-Used") is None
    assert env.stripe_objects().get("payment_intent", 0) == 0


def test_a_payment_answers_with_the_provider_that_moved_the_tokens(paying: Paying) -> None:
    checked(paying.env)
    wallet_id = paying.funded_wallet()
    event = api_event(
        "POST",
        f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice",
        body={},
        headers={"X-Provider-Preference": "circle"},
    )
    response = dict(paying.pay_fn.lambda_handler(event, FakeLambdaContext(function_name="pay")))
    assert response["statusCode"] == 200, response["body"]
    # The tokens were minted at Tempo, so they are paid from there whatever the preference.
    assert header(response, "X-Provider-Used") == body_of(response)["data"]["provider"] == "tempo"
