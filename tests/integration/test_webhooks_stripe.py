"""The webhooks function on moto with the Stripe, Tempo and Circle stand-ins: a bank (ACH) funding answers
202, the stand-in settles it and signs `payment_intent.succeeded`, and that very delivery, passed through
the handler, funds the wallet once."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.bootstrap import Adapters
from shared.ledger.accounts import Account
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import TABLE, FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_funding_api import SECRETS, STRIPE_KEY, Env
from tests.integration.test_funding_api import env as funding_env  # noqa: F401  (the fixture, reused)
from tests.unit.stripe_standin.conftest import control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver

WEBHOOK_SECRET = "whsec_webhooks_integration"
ACH = "pm_usBankAccount"


@pytest.fixture(scope="module")
def servers(
    receiver: WebhookReceiver,
) -> Iterator[tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle]]:
    options = Options(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)
    with (
        BackgroundStandIn(options) as stripe_server,
        BackgroundTempo() as tempo,
        BackgroundCircle() as circle,
    ):
        yield stripe_server, tempo, circle


@dataclass
class Hooks:
    env: Env
    module: Any
    receiver: WebhookReceiver

    def delivery(self, event_type: str, intent_id: str) -> Received:
        def matches(item: Received) -> bool:
            body = json.loads(item.body)
            return bool(body["type"] == event_type and body["data"]["object"]["id"] == intent_id)

        received = self.receiver.wait_for(lambda items: any(matches(i) for i in items))
        return next(i for i in received if matches(i))

    def post(self, body: bytes, signature: str | None, *, base64_body: bool = False) -> dict[str, Any]:
        headers = {"Stripe-Signature": signature} if signature is not None else {}
        text = base64.b64encode(body).decode() if base64_body else body.decode()
        event = api_event("POST", "/webhooks/stripe", raw_body=text, principal=None, headers=headers)
        event["isBase64Encoded"] = base64_body
        return dict(self.module.lambda_handler(event, FakeLambdaContext(function_name="webhooks")))


@pytest.fixture
def hooks(
    funding_env: Env,  # noqa: F811
    servers: tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Hooks:
    import functions.webhooks.handler as webhooks_fn

    receiver.reset()
    stripe_server, tempo, circle = servers
    retry = RetryPolicy(attempts=1)
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
    providers: dict[str, Any] = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    stripe_client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    creating = bootstrap.app().adapters  # wallet making as the funding environment composed it
    adapters = Adapters(
        creating.settings,
        kms=creating.kms,
        scheduler=creating.scheduler,
        cards=creating.cards,
        dynamodb=funding_env.dynamodb,
        payments=StripePaymentProcessor(stripe_client),
        providers=providers,
        stripe_keys={**SECRETS, "stripe_webhook_secret": WEBHOOK_SECRET},
        clock=funding_env.clock,
    )
    bootstrap.use(adapters)
    return Hooks(funding_env, webhooks_fn, receiver)


def _items(env: Env, prefix: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(env.dynamodb) if i["pk"]["S"].startswith(prefix)]


def _wallet_meta(env: Env, wallet_id: str) -> dict[str, Any]:
    return next(i for i in _items(env, f"WALLET#{wallet_id}") if i["sk"]["S"] == "META")


def test_the_stand_ins_signed_success_completes_a_processing_ach_funding_once(hooks: Hooks) -> None:
    env = hooks.env
    wallet_id = env.wallet()
    started = env.fund(wallet_id, method=ACH, key=None)
    assert started["statusCode"] == 202, started["body"]
    intent_id = body_of(started)["data"]["payment_intent_id"]
    assert _wallet_meta(env, wallet_id)["status"]["S"] == "active"

    control(env.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete", {})
    delivery = hooks.delivery("payment_intent.succeeded", intent_id)
    response = hooks.post(delivery.body, delivery.signature)
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["data"]["outcome"] == "funded"

    meta = _wallet_meta(env, wallet_id)
    assert (meta["status"]["S"], meta["balance"]["N"]) == ("funded", "251.00")
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == 251_000_000
    assert ledger.balance(Account.reserve("USD")) == 25100
    mints = env.chain(env.tempo)
    event_items = _items(env, "STRIPEEVENT#")
    assert [i["outcome"]["S"] for i in event_items] == ["funded"]

    # Stripe redelivers: 200, nothing changes.
    before = scan_all(env.dynamodb)
    again = hooks.post(delivery.body, delivery.signature)
    assert again["statusCode"] == 200 and body_of(again)["data"]["outcome"] == "duplicate"
    assert scan_all(env.dynamodb) == before and env.chain(env.tempo) == mints

    # A keyless call is a new attempt (no Idempotency-Key, nothing to replay): the wallet is funded, so it is
    # refused before anything is charged.
    retry = env.fund(wallet_id, method=ACH, key=None)
    assert retry["statusCode"] == 400 and body_of(retry)["code"] == "invalid_state", retry["body"]
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == 251_000_000
    assert env.chain(env.tempo) == mints


def test_a_base64_body_verifies_and_a_failed_ach_payment_releases_the_claim(hooks: Hooks) -> None:
    env = hooks.env
    wallet_id = env.wallet()
    started = env.fund(wallet_id, method=ACH, key=None)
    intent_id = body_of(started)["data"]["payment_intent_id"]
    control(env.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete", {"outcome": "failed"})
    delivery = hooks.delivery("payment_intent.payment_failed", intent_id)
    response = hooks.post(delivery.body, delivery.signature, base64_body=True)
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["data"]["outcome"] == "released"
    claim = next(i for i in _items(env, f"WALLET#{wallet_id}") if i["sk"]["S"] == "FUNDING")
    assert (claim["state"]["S"], claim["refunds"]["N"]) == ("refunded", "1")
    assert _wallet_meta(env, wallet_id)["status"]["S"] == "active"
    # a new attempt gets a new PaymentIntent and funds the wallet by card
    funded = env.fund(wallet_id, method="pm_card_visa", key=None)
    assert funded["statusCode"] == 200, funded["body"]
    assert body_of(funded)["data"]["payment_intent_id"] != intent_id


@pytest.mark.parametrize("tamper", ["signature", "body", "missing"])
def test_a_bad_signature_is_400_validation_error_and_changes_nothing(hooks: Hooks, tamper: str) -> None:
    env = hooks.env
    wallet_id = env.wallet()
    intent_id = body_of(env.fund(wallet_id, method=ACH, key=None))["data"]["payment_intent_id"]
    control(env.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete", {})
    delivery = hooks.delivery("payment_intent.succeeded", intent_id)
    before = scan_all(env.dynamodb)
    body, signature = delivery.body, delivery.signature
    if tamper == "signature":
        signature = (signature or "").replace("v1=", "v1=0")
    elif tamper == "body":
        body = body.replace(b'"amount_received"', b'"amount_received_x"')
    else:
        signature = None
    response = hooks.post(body, signature)
    assert response["statusCode"] == 400, response["body"]
    assert body_of(response)["code"] == "validation_error"
    assert scan_all(env.dynamodb) == before


def test_a_body_flagged_base64_that_is_not_is_400(hooks: Hooks) -> None:
    event = api_event("POST", "/webhooks/stripe", raw_body="{not base64!}", principal=None)
    event["isBase64Encoded"] = True
    response = hooks.module.lambda_handler(event, FakeLambdaContext(function_name="webhooks"))
    assert (response["statusCode"], body_of(response)["code"]) == (400, "validation_error")
    assert _items(hooks.env, "STRIPEEVENT#") == []
