"""The tenant's treasury on moto with the Stripe, Tempo and Circle stand-ins live: one wallet per tenant made
on first use, deposits through the consumer deposit engine (card at once, bank debit by Stripe's signed
webhook), balances per coin from the ledger, and no KYC limit on a business's own money."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.ledger.accounts import Account
from shared.treasury.service import treasury_wallet_id
from tests.integration.conftest import FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_consumer_api import env as consumer_env  # noqa: F401  (fixture)
from tests.integration.test_consumer_money import (  # noqa: F401  (the fixtures, reused)
    Money,
    money,
    servers,
)
from tests.unit.stripe_standin.conftest import control

MERCHANT = {"sub": "usr_merchant", "tenant_id": "tenant-a", "roles": "merchant"}
OTHER_TENANT = {"sub": "usr_other", "tenant_id": "tenant-b", "roles": "admin"}
CONSUMER = {"sub": "usr_alice", "tenant_id": "tenant-a", "roles": "consumer"}
USDC = 10**6


def call(method: str, path: str, principal: dict[str, str] | None, body: Any = None, key: str = "") -> Any:
    import functions.payouts.handler as payouts

    headers = {"Idempotency-Key": key} if key else None
    event = api_event(method, path, body=body, principal=principal, headers=headers)
    return payouts.lambda_handler(event, FakeLambdaContext(function_name="payouts"))


def data(response: Any, status: int = 200) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    return dict(body_of(response)["data"])


def deposit(amount: str, key: str = "", principal: dict[str, str] = MERCHANT, **fields: Any) -> Any:
    body = {"amount": amount, "payment_method": "pm_card_visa", "urgency": "instant", **fields}
    return call("POST", "/api/v1/treasury/deposit", principal, body, key)


def test_the_treasury_is_made_once_on_first_use_even_concurrently(money: Money) -> None:  # noqa: F811
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: call("GET", "/api/v1/treasury", MERCHANT), range(4)))
    views = [data(a)["treasury"] for a in answers]
    assert {v["wallet_id"] for v in views} == {treasury_wallet_id("tenant-a")}
    assert len({v["wallet_address"] for v in views}) == 1
    wallets = [i for i in scan_all(money.env.dynamodb) if i.get("purpose", {}).get("S") == "treasury"]
    assert len(wallets) == 1
    assert {b["currency"]: b["available"] for b in views[0]["balances"]}["USDC"] == "0.00"
    other = data(call("GET", "/api/v1/treasury", OTHER_TENANT))["treasury"]
    assert other["wallet_id"] != views[0]["wallet_id"]


def test_a_card_deposit_mints_into_the_treasury_once_beyond_any_personal_limit(money: Money) -> None:  # noqa: F811
    # $5,000 is past a level-1 person's $1,000 a day: a treasury has no KYC limit.
    first = data(deposit("5000.00", key="t-1"))
    assert first["transaction"]["status"] == "completed" and first["provider"] == "tempo"
    wallet_id = treasury_wallet_id("tenant-a")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 5000 * USDC
    assert data(deposit("5000.00", key="t-1")) == first
    assert money.stripe_objects().get("payment_intent") == 1
    assert money.chain(money.tempo)["supply"] == {"USDC": 5000 * USDC}
    view = data(call("GET", "/api/v1/treasury", MERCHANT))["treasury"]
    assert {b["currency"]: b["available"] for b in view["balances"]}["USDC"] == "5000.00"
    [event] = money.events("deposit:complete")
    assert [c["S"] for c in event["channels"]["L"]] == ["admin"]
    assert event["resource_id"]["S"] == wallet_id


def test_a_bank_debit_into_the_treasury_completes_on_the_signed_webhook(money: Money) -> None:  # noqa: F811
    pending = data(deposit("750.00", key="ach", payment_method="pm_usBankAccount_success"), 202)
    wallet_id = treasury_wallet_id("tenant-a")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0
    intent_id = pending["payment_intent_id"]
    control(money.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete")
    assert money.webhook(money.delivered("payment_intent.succeeded", intent_id))["outcome"] == "deposited"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 750 * USDC


def test_consumers_may_not_see_or_fund_a_treasury_and_bad_input_changes_nothing(money: Money) -> None:  # noqa: F811
    before = scan_all(money.env.dynamodb)
    for response in (call("GET", "/api/v1/treasury", CONSUMER), deposit("10.00", principal=CONSUMER)):
        assert response["statusCode"] == 403, response["body"]
    for bad in ("0", "-5", "1.234", "NaN", "1000000001"):
        response = deposit(bad)
        assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error", bad
    assert scan_all(money.env.dynamodb) == before
    assert money.stripe_objects().get("payment_intent", 0) == 0
