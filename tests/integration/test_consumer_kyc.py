"""KYC upgrades on moto with the Stripe stand-in: `upgrade-kyc` starts a VerificationSession through the
stripe SDK, the stand-in's control verifies or fails it, and its signed delivery, passed through the webhooks
function, raises the level once (or records why not). Forged, foreign and stale events change nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from local.stripe.webhooks import sign
from shared import bootstrap
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_identity import StripeIdentityVerifier
from shared.bootstrap import Adapters
from tests.integration.conftest import FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_consumer_api import ALICE, BOB, OTHER_TENANT_BOB, Env, UnusedCards
from tests.integration.test_consumer_api import env as consumer_env  # noqa: F401  (the fixture, reused)
from tests.unit.stripe_standin.conftest import control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver

WEBHOOK_SECRET = "whsec_kyc_integration"
STRIPE_KEY = "sk_test_kyc"
VERIFIED = "identity.verification_session.verified"
REQUIRES_INPUT = "identity.verification_session.requires_input"


@pytest.fixture(scope="module")
def stripe_server(receiver: WebhookReceiver) -> Iterator[BackgroundStandIn]:
    with BackgroundStandIn(Options(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)) as server:
        yield server


@dataclass
class Kyc:
    env: Env
    stripe: BackgroundStandIn
    receiver: WebhookReceiver

    def upgrade(self, level: Any, principal: dict[str, str] = ALICE, **headers: str) -> dict[str, Any]:
        import functions.consumer_kyc.handler as handler

        event = api_event(
            "POST", "/api/consumer/upgrade-kyc", body={"level": level}, principal=principal, headers=headers
        )
        return dict(handler.lambda_handler(event, FakeLambdaContext(function_name="consumer_kyc")))

    def limits(self, principal: dict[str, str] = ALICE) -> dict[str, Any]:
        return dict(body_of(self.env.call("GET", "limits", principal))["data"])

    def session(self, session_id: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.stripe.base_url}/v1/identity/verification_sessions/{session_id}",
            headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        )
        return dict(answer.json())

    def finish(self, session_id: str, outcome: str, **body: str) -> Received:
        control(self.stripe, "POST", f"/_control/identity/verification_sessions/{session_id}/{outcome}", body)
        event_type = VERIFIED if outcome == "verify" else REQUIRES_INPUT

        def matches(item: Received) -> bool:
            sent = json.loads(item.body)
            return bool(sent["type"] == event_type and sent["data"]["object"]["id"] == session_id)

        received = self.receiver.wait_for(lambda items: any(matches(i) for i in items))
        return next(i for i in received if matches(i))

    def webhook(self, body: bytes | str, signature: str | None) -> dict[str, Any]:
        import functions.webhooks.handler as webhooks

        text = body.decode() if isinstance(body, bytes) else body
        headers = {"Stripe-Signature": signature} if signature is not None else {}
        event = api_event("POST", "/webhooks/stripe", raw_body=text, principal=None, headers=headers)
        return dict(webhooks.lambda_handler(event, FakeLambdaContext(function_name="webhooks")))

    def deliver(self, received: Received) -> dict[str, Any]:
        response = self.webhook(received.body, received.signature)
        assert response["statusCode"] == 200, response["body"]
        return dict(body_of(response)["data"])

    def forged(self, event: dict[str, Any]) -> dict[str, Any]:
        """A delivery signed with the right secret (as Stripe would sign this body)."""
        payload = json.dumps(event)
        return self.deliver(Received(payload, sign(payload, WEBHOOK_SECRET, int(time.time())), 200))

    def events(self, name: str) -> list[dict[str, Any]]:
        items = scan_all(self.env.dynamodb)
        return [i for i in items if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"] == name]


@pytest.fixture
def kyc(
    consumer_env: Env,  # noqa: F811
    stripe_server: BackgroundStandIn,
    receiver: WebhookReceiver,
) -> Kyc:
    # Each test's table starts empty, so its people start again at attempt 0 (the same Stripe keys).
    control(stripe_server, "POST", "/_control/reset")
    receiver.reset()
    made = bootstrap.app().adapters
    client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    adapters = Adapters(
        made.settings,
        dynamodb=made.dynamodb,
        kms=made.kms,
        scheduler=made.scheduler,
        cards=UnusedCards(),
        clock=consumer_env.clock,
        identity=StripeIdentityVerifier(client),
        stripe_keys={"stripe_secret_key": STRIPE_KEY, "stripe_webhook_secret": WEBHOOK_SECRET},
        provider_keys={},
    )
    bootstrap.use(adapters)
    return Kyc(consumer_env, stripe_server, receiver)


def _started(kyc: Kyc, level: int, principal: dict[str, str] = ALICE) -> dict[str, Any]:
    response = kyc.upgrade(level, principal)
    assert response["statusCode"] == 202, response["body"]
    return dict(body_of(response)["data"])


def test_upgrade_starts_a_session_and_only_the_signed_verified_webhook_raises_the_level(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    started = _started(kyc, 2)
    assert started["status"] == "pending" and started["verification_session_id"].startswith("vs_")
    assert started["verification_url"].endswith(f"/_identity/{started['verification_session_id']}")
    session = kyc.session(started["verification_session_id"])
    assert session["type"] == "document" and session["options"] == {"document": {}}
    assert session["metadata"] == {"tenant_id": "tenant-a", "user_id": "usr_alice", "kyc_level": "2"}
    limits = kyc.limits()
    assert limits["kyc_level"] == 1 and limits["daily"]["limit"] == "1000.00"
    assert limits["verification"]["status"] == "pending" and limits["verification"]["level"] == 2
    # Asking again while it is pending answers the same session: no second one at Stripe.
    assert _started(kyc, 2)["verification_session_id"] == started["verification_session_id"]
    assert control(kyc.stripe, "GET", "/_control/state")["objects"]["identity.verification_session"] == 1

    delivery = kyc.finish(started["verification_session_id"], "verify")
    # A forged signature changes nothing.
    forged = kyc.webhook(delivery.body, delivery.signature.replace("v1=", "v1=00"))
    assert forged["statusCode"] == 400 and body_of(forged)["code"] == "validation_error"
    assert kyc.limits()["kyc_level"] == 1

    assert kyc.deliver(delivery)["outcome"] == "upgraded"
    limits = kyc.limits()
    assert limits["kyc_level"] == 2
    assert limits["daily"]["limit"] == "50000.00" and limits["monthly"]["limit"] == "1500000.00"
    assert limits["next_level"]["level"] == 3 and limits["verification"]["status"] == "verified"
    [event] = kyc.events("kyc:upgraded")
    assert event["channels"]["L"] == [{"S": "consumer:usr_alice"}]
    assert event["data"]["M"]["kyc_level"]["N"] == "2"
    # The same delivery again: deduplicated by event id.
    assert kyc.deliver(delivery)["outcome"] == "duplicate"
    assert len(kyc.events("kyc:upgraded")) == 1
    # Now level 2 is at or below the current one.
    again = kyc.upgrade(2)
    assert again["statusCode"] == 400 and body_of(again)["code"] == "invalid_state", again["body"]


def test_level_three_asks_for_a_selfie_and_an_id_number(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    started = _started(kyc, 3)
    session = kyc.session(started["verification_session_id"])
    assert session["options"] == {"document": {"require_matching_selfie": True, "require_id_number": True}}
    assert session["metadata"]["kyc_level"] == "3"
    assert kyc.deliver(kyc.finish(started["verification_session_id"], "verify"))["outcome"] == "upgraded"
    assert kyc.limits()["kyc_level"] == 3 and kyc.limits()["daily"]["limit"] == "250000.00"
    assert kyc.limits()["next_level"] is None


def test_limits_follow_the_new_level_at_once(kyc: Kyc) -> None:
    alice = kyc.env.onboard(ALICE)
    kyc.env.onboard(BOB)
    kyc.env.seed(alice["wallet"]["wallet_id"], "USDC", "5000")
    over = kyc.env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "1500.00"})
    assert over["statusCode"] == 400 and body_of(over)["code"] == "limit_exceeded"
    started = _started(kyc, 2)
    kyc.deliver(kyc.finish(started["verification_session_id"], "verify"))
    sent = kyc.env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "1500.00"})
    assert sent["statusCode"] == 200, sent["body"]


def test_requires_input_leaves_the_level_and_says_why(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    started = _started(kyc, 2)
    delivery = kyc.finish(
        started["verification_session_id"], "fail", code="document_expired", reason="The document is expired."
    )
    assert kyc.deliver(delivery)["outcome"] == "requires_input"
    limits = kyc.limits()
    assert limits["kyc_level"] == 1
    assert limits["verification"]["status"] == "requires_input"
    assert limits["verification"]["last_error"] == {
        "code": "document_expired",
        "reason": "The document is expired.",
    }
    assert kyc.events("kyc:upgraded") == []
    # A new request starts a new session (its own Stripe idempotency key); the failed one is not reused.
    retry = _started(kyc, 2)
    assert retry["verification_session_id"] != started["verification_session_id"]
    assert kyc.limits()["verification"]["status"] == "pending"


@pytest.mark.parametrize("level", [1, 4, 0, "2", 2.0, None, True])
def test_bad_levels_are_validation_errors_and_write_nothing(kyc: Kyc, level: Any) -> None:
    kyc.env.onboard(ALICE)
    before = scan_all(kyc.env.dynamodb)
    response = kyc.upgrade(level)
    assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error", response["body"]
    assert scan_all(kyc.env.dynamodb) == before
    assert "identity.verification_session" not in control(kyc.stripe, "GET", "/_control/state")["objects"]


def test_upgrade_needs_an_onboarded_consumer(kyc: Kyc) -> None:
    missing = kyc.upgrade(2)
    assert missing["statusCode"] == 404 and body_of(missing)["code"] == "not_found"
    merchant = kyc.upgrade(2, {"sub": "merchant-1", "tenant_id": "tenant-a", "roles": "merchant"})
    assert merchant["statusCode"] == 403


def test_a_session_verified_for_a_level_at_or_below_the_current_changes_nothing(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    two = _started(kyc, 2)
    three = _started(kyc, 3)
    assert kyc.deliver(kyc.finish(three["verification_session_id"], "verify"))["outcome"] == "upgraded"
    assert kyc.deliver(kyc.finish(two["verification_session_id"], "verify"))["outcome"] == "ignored"
    assert kyc.limits()["kyc_level"] == 3
    assert len(kyc.events("kyc:upgraded")) == 1


def test_foreign_or_unknown_sessions_change_nothing(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    kyc.env.onboard(OTHER_TENANT_BOB)
    started = _started(kyc, 2)
    delivery = json.loads(kyc.finish(started["verification_session_id"], "verify").body)
    before = scan_all(kyc.env.dynamodb)
    # The same session, its metadata naming another person or tenant than the session was created for.
    for index, metadata in enumerate(
        (
            {"tenant_id": "tenant-b", "user_id": "usr_bob", "kyc_level": "2"},
            {"tenant_id": "tenant-a", "user_id": "usr_bob", "kyc_level": "2"},
            {"tenant_id": "tenant-a", "user_id": "usr_alice", "kyc_level": "3"},
        )
    ):
        event = {**delivery, "id": f"evt_forged_{index}"}
        event["data"] = {"object": {**delivery["data"]["object"], "metadata": metadata}}
        assert kyc.forged(event)["outcome"] == "ignored"
    # A session this system never created, with metadata naming Alice.
    client = build_stripe_client(STRIPE_KEY, kyc.stripe.base_url, max_network_retries=0)
    stranger = client.v1.identity.verification_sessions.create(
        params={
            "type": "document",
            "metadata": {"tenant_id": "tenant-a", "user_id": "usr_alice", "kyc_level": "2"},
        }
    )
    assert kyc.deliver(kyc.finish(stranger.id, "verify"))["outcome"] == "ignored"
    changed = [i for i in scan_all(kyc.env.dynamodb) if i not in before]
    assert all(i["pk"]["S"].startswith("STRIPEEVENT#") for i in changed)
    assert kyc.limits()["kyc_level"] == 1 and kyc.limits(OTHER_TENANT_BOB)["kyc_level"] == 1
    assert kyc.events("kyc:upgraded") == []


def test_a_late_requires_input_never_hides_a_verified_session(kyc: Kyc) -> None:
    kyc.env.onboard(ALICE)
    started = _started(kyc, 2)
    failed = kyc.finish(started["verification_session_id"], "fail")
    verified = kyc.finish(started["verification_session_id"], "verify")
    assert kyc.deliver(verified)["outcome"] == "upgraded"
    assert kyc.deliver(failed)["outcome"] == "ignored"
    limits = kyc.limits()
    assert limits["kyc_level"] == 2 and limits["verification"]["status"] == "verified"
