"""Stripe Connect in the stand-in, driven by the stripe SDK: a custom account with a bank account, a transfer
to it, a payout on it (Stripe-Account), the control that fails the payout (a signed Connect event naming the
account), and the transfer's reversal."""

from __future__ import annotations

import json

import pytest
import stripe

from local.stripe.serving import BackgroundStandIn
from tests.unit.stripe_standin.conftest import WEBHOOK_SECRET, control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver


def _account(client: stripe.StripeClient) -> stripe.Account:
    return client.v1.accounts.create(
        params={
            "type": "custom",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
            "external_account": "btok_us_verified",
        },
        options={"idempotency_key": "acct-1"},
    )


def test_transfer_then_instant_payout_then_a_failed_payout_returns_the_money(
    client: stripe.StripeClient, standin: BackgroundStandIn, receiver: WebhookReceiver
) -> None:
    account = _account(client)
    assert account.id.startswith("acct_") and account.payouts_enabled
    assert _account(client).id == account.id  # the same key answers the same account
    transfer = client.v1.transfers.create(
        params={"amount": 7_550, "currency": "usd", "destination": account.id, "metadata": {"op": "w1"}},
        options={"idempotency_key": "tr-1"},
    )
    assert (transfer.amount, transfer.destination, transfer.reversed) == (7_550, account.id, False)
    payout = client.v1.payouts.create(
        params={"amount": 7_550, "currency": "usd", "method": "instant", "metadata": {"op": "w1"}},
        options={"idempotency_key": "po-1", "stripe_account": account.id},
    )
    assert payout.status == "pending" and payout.method == "instant" and payout.destination.startswith("ba_")
    with pytest.raises(stripe.InvalidRequestError) as short:
        client.v1.payouts.create(
            params={"amount": 1, "currency": "usd"},
            options={"idempotency_key": "po-2", "stripe_account": account.id},
        )
    assert short.value.code == "balance_insufficient"

    control(standin, "POST", f"/_control/payouts/{payout.id}/fail", {"code": "account_closed"})

    def failed(items: list[Received]) -> bool:
        return any(json.loads(i.body)["type"] == "payout.failed" for i in items)

    item = next(i for i in receiver.wait_for(failed) if json.loads(i.body)["type"] == "payout.failed")
    event = stripe.Webhook.construct_event(item.body, item.signature, WEBHOOK_SECRET)
    assert event.account == account.id
    assert event.data.object.failure_code == "account_closed" and event.data.object.metadata["op"] == "w1"
    reversal = client.v1.transfers.reversals.create(
        transfer.id, params={"amount": 7_550}, options={"idempotency_key": "trr-1"}
    )
    assert reversal.amount == 7_550 and reversal.transfer == transfer.id
    assert (
        client.v1.transfers.reversals.create(
            transfer.id, params={"amount": 7_550}, options={"idempotency_key": "trr-1"}
        ).id
        == reversal.id
    )  # a replay, not a second reversal
