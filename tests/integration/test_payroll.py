"""Payroll payouts on moto with the provider stand-ins: each item funded into its own ephemeral claim wallet
with a signed link; the consumer the item names claims it once into their wallet; an unclaimed one is
destroyed at expiry by the destruction service, its money back in the treasury (`payout.item_returned`)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.scheduler import EventBridgeDestructionScheduler
from shared.ledger.accounts import Account
from tests.integration.conftest import FakeLambdaContext, api_event, scan_all
from tests.integration.consumer_rig import BOB, CAROL, Rig, rig_fixture, servers  # noqa: F401
from tests.integration.payout_rig import (
    CHECKER,
    USDC,
    call,
    create,
    data,
    error,
    fund_treasury,
    item,
    run,
    treasury_balance,
)

LINK_SECRET = "payroll-link-secret-0123456789"


class NoStripe:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a payroll wallet's destruction called Stripe ({name})")


@pytest.fixture
def payroll(rig: Rig) -> Rig:
    adapters = bootstrap.app().adapters
    adapters.__dict__["payment_link_secret"] = LINK_SECRET
    adapters.__dict__["payments"] = NoStripe()
    adapters.__dict__["destruction_scheduler"] = EventBridgeDestructionScheduler(
        adapters.scheduler,
        group_name="default",
        target_arn="arn:aws:lambda:us-east-1:123456789012:function:destroy",
        role_arn="arn:aws:iam::123456789012:role/scheduler",
        dead_letter_arn="",
    )
    for who in (BOB, CAROL):
        rig.onboard(who)
    return rig


def claim_token(url: str) -> str:
    return url.rsplit("/public/claim/", 1)[1]


def public(
    method: str, token: str, principal: dict[str, str] | None, accept: str = "application/json"
) -> Any:
    import functions.payouts.handler as payouts

    event = api_event(method, f"/public/claim/{token}", principal=principal, headers={"Accept": accept})
    return payouts.lambda_handler(event, FakeLambdaContext(function_name="payouts"))


def test_payroll_items_become_claim_wallets_claimed_once_or_returned_at_expiry(payroll: Rig) -> None:
    fund_treasury(payroll, "1000.00")
    items = [
        item({"consumer_id": "usr_bob"}, "300", "jan-bob"),
        item({"email": "dave@example.com"}, "200", "jan-dave"),
    ]
    payout = data(create(items, purpose="payroll"), 201)["payout"]
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    assert run(payout["id"])["status"] == "completed"
    funded = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]["items"]
    assert [i["status"] for i in funded] == ["paid", "paid"]
    bob_item, dave_item = funded
    for each, amount in ((bob_item, 300), (dave_item, 200)):
        assert each["wallet_id"] and each["claim_url"].startswith("http")
        assert payroll.ledger.balance(Account.wallet(each["wallet_id"], "USDC")) == amount * USDC
    wallets = [i for i in scan_all(payroll.dynamodb) if "wallet_type" in i and i["purpose"]["S"] == "payroll"]
    assert {w["wallet_type"]["S"] for w in wallets} == {"ephemeral"} and len(wallets) == 2
    schedule = payroll_schedule(payroll, dave_item["wallet_id"])
    assert schedule["ScheduleExpression"].startswith("at(")
    assert treasury_balance(payroll) == 500 * USDC

    token = claim_token(bob_item["claim_url"])
    view = data(public("GET", token, None))["claim"]
    assert (view["amount"], view["currency"], view["status"], view["employer"]) == (
        "300.00",
        "USDC",
        "paid",
        "tenant-a",
    )
    assert 0 < view["remaining_seconds"] <= 7 * 86400
    page = public("GET", token, None, accept="text/html")
    assert page["statusCode"] == 200 and "Claim to my wallet" in page["body"]
    assert "frame-ancestors 'none'" in page["multiValueHeaders"]["Content-Security-Policy"][0]
    error(public("GET", token[:-2] + "xx", None), 400, "invalid_link")

    error(public("POST", token, CAROL), 403, "forbidden")
    claimed = data(public("POST", token, BOB))["claim"]
    assert claimed["status"] == "claimed" and claimed["transaction_id"].startswith("txn_")
    assert payroll.balance(BOB, "USDC") == 300 * USDC
    assert payroll.ledger.balance(Account.wallet(bob_item["wallet_id"], "USDC")) == 0
    error(public("POST", token, BOB), 409, "conflict")
    assert payroll.balance(BOB, "USDC") == 300 * USDC

    # Dave never claims: at expiry the destruction service destroys the wallet and the 200 go back.
    payroll.clock.advance(days=7, seconds=1)
    outcome = bootstrap.app().settlement.destruction.destroy(dave_item["wallet_id"], "schedule")
    assert outcome.result == "destroyed", outcome
    assert treasury_balance(payroll) == 700 * USDC
    assert payroll.ledger.balance(Account.wallet(dave_item["wallet_id"], "USDC")) == 0
    after = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]
    assert [i["status"] for i in after["items"]] == ["claimed", "returned"]
    returned = [
        i
        for i in scan_all(payroll.dynamodb)
        if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"] == "payout.item_returned"
    ]
    assert len(returned) == 1 and {c["S"] for c in returned[0]["channels"]["L"]} == {
        f"payout:{payout['id']}",
        "admin",
    }
    # A second trigger (the lease's TTL) finds it destroyed and returns nothing again.
    assert bootstrap.app().settlement.destruction.destroy(dave_item["wallet_id"], "ttl").result == (
        "already_destroyed"
    )
    assert treasury_balance(payroll) == 700 * USDC
    error(public("POST", claim_token(dave_item["claim_url"]), BOB), 400, "invalid_link")
    payroll.assert_balanced()


def payroll_schedule(rig: Rig, wallet_id: str) -> dict[str, Any]:
    adapters = bootstrap.app().adapters
    return dict(adapters.scheduler.get_schedule(Name=f"destroy-{wallet_id}", GroupName="default"))


def test_a_claim_of_someone_elses_pay_and_a_tampered_link_move_nothing(payroll: Rig) -> None:
    fund_treasury(payroll, "50.00")
    payout = data(create([item({"email": "carol@example.com"}, "20", "c")], purpose="payroll"), 201)["payout"]
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    run(payout["id"])
    [funded] = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]["items"]
    token = claim_token(funded["claim_url"])
    error(public("POST", token, BOB), 403, "forbidden")
    body, signature = token.split(".")
    error(public("POST", f"{body}.{signature[::-1]}", CAROL), 400, "invalid_link")
    assert payroll.balance(BOB, "USDC") == 0 and payroll.balance(CAROL, "USDC") == 0
    assert data(public("POST", token, CAROL))["claim"]["status"] == "claimed"
    assert payroll.balance(CAROL, "USDC") == 20 * USDC
    payroll.assert_balanced()
