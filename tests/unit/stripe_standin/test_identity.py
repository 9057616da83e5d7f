"""Stripe Identity VerificationSessions in the stand-in, driven by the stripe SDK, and the control that
verifies or fails one, whose event arrives signed as Stripe signs it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import WEBHOOK_SECRET, control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver

LEVEL_3 = {"document": {"require_matching_selfie": True, "require_id_number": True}}


def _event(receiver: WebhookReceiver, event_type: str, session_id: str) -> stripe.Event:
    def matches(item: Received) -> bool:
        body = json.loads(item.body)
        return bool(body["type"] == event_type and body["data"]["object"]["id"] == session_id)

    received = receiver.wait_for(lambda items: any(matches(i) for i in items))
    item = next(i for i in received if matches(i))
    return stripe.Webhook.construct_event(item.body, item.signature, WEBHOOK_SECRET)


def test_create_and_retrieve_a_document_session_with_selfie_and_id_number(
    client: stripe.StripeClient, standin: BackgroundStandIn
) -> None:
    session = client.v1.identity.verification_sessions.create(
        params={"type": "document", "options": LEVEL_3, "metadata": {"user_id": "usr_1", "kyc_level": "3"}},
        options={"idempotency_key": "kyc-1"},
    )
    assert session.id.startswith("vs_") and session.object == "identity.verification_session"
    assert session.status == "requires_input" and session.last_error is None
    assert session.url == f"{standin.base_url}/_identity/{session.id}"
    assert session.options.to_dict() == {
        "document": {"require_matching_selfie": True, "require_id_number": True}
    }
    assert session.metadata.to_dict() == {"user_id": "usr_1", "kyc_level": "3"}
    assert client.v1.identity.verification_sessions.retrieve(session.id).id == session.id
    # The same idempotency key answers the same session; a new key makes another.
    again = client.v1.identity.verification_sessions.create(
        params={"type": "document", "options": LEVEL_3, "metadata": {"user_id": "usr_1", "kyc_level": "3"}},
        options={"idempotency_key": "kyc-1"},
    )
    assert again.id == session.id
    assert control(standin, "GET", "/_control/state")["objects"]["identity.verification_session"] == 1
    with urllib.request.urlopen(session.url, timeout=5) as page:
        assert b"Verify your identity" in page.read()


def test_bad_session_parameters_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="type"):
        client.v1.identity.verification_sessions.create(params={"type": "passport"})  # type: ignore[typeddict-item]
    with pytest.raises(stripe.InvalidRequestError, match="options\\[document\\]\\[selfie\\]"):
        client.v1.identity.verification_sessions.create(
            params={"type": "document", "options": {"document": {"selfie": True}}}  # type: ignore[typeddict-unknown-key]
        )
    with pytest.raises(stripe.InvalidRequestError, match="No such verificationsession"):
        client.v1.identity.verification_sessions.retrieve("vs_missing")


def test_verify_control_emits_the_signed_verified_event(
    client: stripe.StripeClient, standin: BackgroundStandIn, receiver: WebhookReceiver
) -> None:
    session = client.v1.identity.verification_sessions.create(params={"type": "document"})
    verified = control(standin, "POST", f"/_control/identity/verification_sessions/{session.id}/verify")
    assert verified["status"] == "verified" and verified["url"] is None
    event = _event(receiver, "identity.verification_session.verified", session.id)
    assert event.data.object.status == "verified" and event.data.object.last_verification_report
    assert client.v1.identity.verification_sessions.retrieve(session.id).status == "verified"
    # A verified session is final: neither verified again nor failed, nor canceled.
    for outcome in ("verify", "fail"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            control(standin, "POST", f"/_control/identity/verification_sessions/{session.id}/{outcome}")
        assert refused.value.code == 400
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.identity.verification_sessions.cancel(session.id)


def test_fail_control_leaves_requires_input_with_last_error(
    client: stripe.StripeClient, standin: BackgroundStandIn, receiver: WebhookReceiver
) -> None:
    session = client.v1.identity.verification_sessions.create(params={"type": "document"})
    control(
        standin,
        "POST",
        f"/_control/identity/verification_sessions/{session.id}/fail",
        {"code": "document_expired", "reason": "The document is expired."},
    )
    event = _event(receiver, "identity.verification_session.requires_input", session.id)
    assert event.data.object.status == "requires_input"
    assert event.data.object.last_error.to_dict() == {
        "code": "document_expired",
        "reason": "The document is expired.",
    }
    # The person may try again on the same session, and then pass.
    control(standin, "POST", f"/_control/identity/verification_sessions/{session.id}/verify")
    assert (
        _event(receiver, "identity.verification_session.verified", session.id).data.object.last_error is None
    )
    with pytest.raises(urllib.error.HTTPError) as unknown:
        control(standin, "POST", "/_control/identity/verification_sessions/vs_missing/verify")
    assert unknown.value.code == 404


def test_cancel_ends_a_session(client: stripe.StripeClient, receiver: WebhookReceiver) -> None:
    session = client.v1.identity.verification_sessions.create(params={"type": "document"})
    canceled = client.v1.identity.verification_sessions.cancel(session.id)
    assert canceled.status == "canceled" and canceled.url is None
    assert _event(receiver, "identity.verification_session.canceled", session.id).data.object.id == session.id
