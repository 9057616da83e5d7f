"""Consumer deposits, withdrawals and transfers out on moto with the Stripe, Tempo and Circle stand-ins live:
the consumer_money function through API events, Stripe's signed deliveries through the webhooks function.
Every refusal reads the ledger and the consumer's items before and after; faults (a mint outage, a mint that
landed but whose answer was lost, a crash before the commit) end in one charge and one mint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_connect import StripeBankPayouts
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.errors import LimitExceeded
from shared.ledger.accounts import Account
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_consumer_api import ALICE, BOB, Env, UnusedCards
from tests.integration.test_consumer_api import env as consumer_env  # noqa: F401  (the fixture, reused)
from tests.unit.stripe_standin.conftest import control
from tests.unit.stripe_standin.receiver import Received, WebhookReceiver

WEBHOOK_SECRET = "whsec_money_integration"
STRIPE_KEY = "sk_test_money"
OUTSIDE = "0x" + "ab" * 20


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
class Money:
    env: Env
    stripe: BackgroundStandIn
    tempo: httpx.Client
    circle: httpx.Client
    receiver: WebhookReceiver

    def post(self, path: str, body: Any, principal: dict[str, str] = ALICE, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else None
        return self.env.call("POST", path, principal, body, headers=headers)

    def deposit(self, amount: str, key: str | None = None, **fields: Any) -> Any:
        body = {"amount": amount, "payment_method": "pm_card_visa", "urgency": "instant", **fields}
        return self.post("deposit", body, key=key)

    def webhook(self, received: Received) -> dict[str, Any]:
        import functions.webhooks.handler as webhooks

        headers = {"Stripe-Signature": received.signature or ""}
        event = api_event(
            "POST", "/webhooks/stripe", raw_body=received.body.decode(), principal=None, headers=headers
        )
        response = webhooks.lambda_handler(event, FakeLambdaContext(function_name="webhooks"))
        assert response["statusCode"] == 200, response["body"]
        return dict(body_of(response)["data"])

    def delivered(self, event_type: str, object_id: str) -> Received:
        def matches(item: Received) -> bool:
            sent = json.loads(item.body)
            return bool(sent["type"] == event_type and sent["data"]["object"]["id"] == object_id)

        received = self.receiver.wait_for(lambda items: any(matches(i) for i in items))
        return next(i for i in received if matches(i))

    def chain(self, client: httpx.Client) -> dict[str, Any]:
        return dict(client.get("/_control/state").json())

    def stripe_objects(self) -> dict[str, int]:
        return dict(control(self.stripe, "GET", "/_control/state")["objects"])

    def ledger(self, account: Account) -> int:
        return self.env.ledger.balance(account)

    def events(self, name: str) -> list[dict[str, Any]]:
        items = scan_all(self.env.dynamodb)
        return [i for i in items if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"] == name]

    def record_health(self) -> None:
        """Run the providers' health check, as the scheduled one does: the routing reads what it records."""
        bootstrap.app().provider_checks.run()


@pytest.fixture
def money(
    consumer_env: Env,  # noqa: F811
    servers: tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle],
    receiver: WebhookReceiver,
) -> Iterator[Money]:
    stripe_server, tempo, circle = servers
    control(stripe_server, "POST", "/_control/reset")
    receiver.reset()
    controls = {
        "tempo": httpx.Client(base_url=tempo.base_url),
        "circle": httpx.Client(base_url=circle.base_url),
    }
    for client in controls.values():
        client.post("/_control/reset")
    made = bootstrap.app().adapters
    client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
    retry = RetryPolicy(attempts=1)
    providers: dict[str, Any] = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    bootstrap.use(
        Adapters(
            # The sweeper is composed with destruction, which schedules: its settings as deployed.
            made.settings.model_copy(
                update={
                    "destroy_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
                    "scheduler_role_arn": "arn:aws:iam::123456789012:role/scheduler",
                }
            ),
            dynamodb=made.dynamodb,
            kms=made.kms,
            scheduler=made.scheduler,
            cards=UnusedCards(),
            clock=consumer_env.clock,
            payments=StripePaymentProcessor(client),
            connect=StripeBankPayouts(client),
            providers=providers,
            stripe_keys={"stripe_secret_key": STRIPE_KEY, "stripe_webhook_secret": WEBHOOK_SECRET},
            provider_keys={},
        )
    )
    yield Money(consumer_env, stripe_server, controls["tempo"], controls["circle"], receiver)
    for each in controls.values():
        each.close()


def _data(response: Any, status: int = 200) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    return dict(body_of(response)["data"])


def _error(response: Any, status: int, code: str) -> None:
    assert response["statusCode"] == status, response["body"]
    assert body_of(response)["code"] == code, response["body"]


USDC = 10**6


# -- deposits ---------------------------------------------------------------------------------------------


def test_a_card_deposit_charges_mints_and_posts_once(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    data = _data(money.deposit("100.00", key="dep-1"))
    assert data["provider"] == "tempo" and isinstance(data["settlement_time_ms"], int)
    txn = data["transaction"]
    assert (txn["type"], txn["amount"], txn["currency"], txn["status"]) == (
        "deposit",
        "100.00",
        "USDC",
        "completed",
    )
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 100 * USDC
    assert (
        money.ledger(Account.reserve("USD")) == 100_00 and money.ledger(Account.supply("USDC")) == 100 * USDC
    )
    assert money.chain(money.tempo)["supply"] == {"USDC": 100 * USDC}
    assert money.env.balances()["USDC"] == "100.00"
    limits = body_of(money.env.call("GET", "limits"))["data"]
    assert limits["daily"]["used"] == "100.00"
    history = body_of(money.env.call("GET", "transactions", query={"type": "deposit"}))["data"][
        "transactions"
    ]
    assert [(t["id"], t["status"]) for t in history] == [(txn["id"], "completed")]
    for name in ("deposit:complete", "balance:updated"):
        [event] = money.events(name)
        assert event["channels"]["L"][0]["S"] == "consumer:usr_alice"

    again = _data(money.deposit("100.00", key="dep-1"))
    assert again == data
    assert money.stripe_objects().get("payment_intent") == 1
    assert money.chain(money.tempo)["supply"] == {"USDC": 100 * USDC}


def test_the_preferred_coin_is_the_default_and_eurc_is_backed_by_euro(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    assert money.env.call("PATCH", "preferences", ALICE, {"preferred_currency": "EURC"})["statusCode"] == 200
    data = _data(money.deposit("50.00"))
    assert data["transaction"]["currency"] == "EURC"
    assert money.ledger(Account.wallet(wallet_id, "EURC")) == 50 * USDC
    assert money.ledger(Account.reserve("EUR")) == 50_00 and money.ledger(Account.reserve("USD")) == 0


def test_a_bank_debit_answers_202_and_completes_on_the_signed_webhook_once(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    data = _data(money.deposit("250.00", key="ach", payment_method="pm_usBankAccount_success"), 202)
    assert data["transaction"]["status"] == "processing" and data["settlement_time_ms"] is None
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0
    history = body_of(money.env.call("GET", "transactions"))["data"]["transactions"]
    assert history[0]["status"] == "processing"

    intent_id = data["payment_intent_id"]
    control(money.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete")
    delivery = money.delivered("payment_intent.succeeded", intent_id)
    assert money.webhook(delivery)["outcome"] == "deposited"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 250 * USDC
    assert body_of(money.env.call("GET", "transactions"))["data"]["transactions"][0]["status"] == "completed"
    assert len(money.events("deposit:complete")) == 1

    assert money.webhook(delivery)["outcome"] == "duplicate"
    # The same key answers what it answered (202); the history tells the deposit completed.
    replay = money.deposit("250.00", key="ach", payment_method="pm_usBankAccount_success")
    assert _data(replay, 202) == data
    assert money.chain(money.tempo)["supply"] == {"USDC": 250 * USDC}


def test_a_failed_bank_debit_fails_the_deposit_and_gives_the_limit_back(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    data = _data(money.deposit("300.00", payment_method="pm_usBankAccount_success"), 202)
    intent_id = data["payment_intent_id"]
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "300.00"
    control(money.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete", {"outcome": "failed"})
    assert (
        money.webhook(money.delivered("payment_intent.payment_failed", intent_id))["outcome"]
        == "deposit_failed"
    )
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "0.00"
    assert body_of(money.env.call("GET", "transactions"))["data"]["transactions"][0]["status"] == "failed"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0 and money.chain(money.tempo)["supply"] == {}


def test_a_declined_card_is_402_and_nothing_is_credited(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _error(money.deposit("20.00", payment_method="pm_card_chargeDeclined"), 402, "payment_failed")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0 and money.chain(money.tempo)["supply"] == {}
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "0.00"


def test_over_the_level_limit_is_refused_before_anything_is_charged(money: Money) -> None:
    money.env.onboard(ALICE)
    before = money.env.money_items()
    response = money.deposit("1000.01")
    _error(response, 400, "limit_exceeded")
    assert body_of(response)["details"][0]["window"] == "daily"
    assert money.env.money_items() == before
    assert money.stripe_objects().get("payment_intent", 0) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "10.001", "payment_method": "pm_card_visa"},
        {"amount": "10", "payment_method": "pm_card_visa", "currency": "DOGE"},
        {"amount": "10", "payment_method": "pm_card_visa", "urgency": "tomorrow"},
        {"amount": "10", "payment_method": "card_visa"},
        {"amount": "-1", "payment_method": "pm_card_visa"},
        {"amount": "0.49", "payment_method": "pm_card_visa"},
        {"amount": "10"},
        {"amount": "10", "payment_method": "pm_card_visa", "extra": 1},
    ],
)
def test_bad_deposit_input_is_a_validation_error_and_moves_nothing(
    money: Money, body: dict[str, Any]
) -> None:
    money.env.onboard(ALICE)
    before = money.env.money_items()
    _error(money.post("deposit", body), 400, "validation_error")
    assert money.env.money_items() == before
    assert money.stripe_objects().get("payment_intent", 0) == 0


def test_with_tempo_down_usdc_goes_to_circle_and_other_coins_are_503(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    money.tempo.post("/_control/down")
    money.record_health()
    before = money.env.money_items()
    _error(money.deposit("10.00", currency="PYUSD"), 503, "provider_unavailable")
    assert money.env.money_items() == before and money.stripe_objects().get("payment_intent", 0) == 0
    data = _data(money.deposit("10.00", currency="USDC"))
    assert data["provider"] == "circle" and money.ledger(Account.wallet(wallet_id, "USDC")) == 10 * USDC
    assert money.chain(money.circle)["supply"] == {"USDC": 10 * USDC}


def test_a_mint_outage_after_the_charge_then_a_retry_mints_once(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    money.tempo.post("/_control/fail", json={"mode": "error", "status": 503, "count": 1, "path": "/v1/mints"})
    _error(money.deposit("40.00", key="retry-me"), 503, "provider_unavailable")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0
    data = _data(money.deposit("40.00", key="retry-me"))
    assert data["transaction"]["status"] == "completed"
    assert money.stripe_objects().get("payment_intent") == 1
    assert money.chain(money.tempo)["supply"] == {"USDC": 40 * USDC}
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 40 * USDC


def test_a_mint_whose_answer_was_lost_is_not_minted_again(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    money.tempo.post(
        "/_control/fail", json={"mode": "timeout_after", "count": 1, "path": "/v1/mints", "hang_seconds": 2.5}
    )
    _error(money.deposit("60.00", key="lost"), 503, "provider_unavailable")
    assert money.chain(money.tempo)["supply"] == {"USDC": 60 * USDC}  # it landed
    _data(money.deposit("60.00", key="lost"))
    assert money.chain(money.tempo)["supply"] == {"USDC": 60 * USDC}
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 60 * USDC


def test_a_crash_after_the_mint_and_before_the_commit_then_a_retry_mints_once(
    money: Money, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    ledger = bootstrap.app()._ledger
    real_post = ledger.post

    def crash(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(ledger, "post", real_post)
        raise RuntimeError("the function died before its commit")

    monkeypatch.setattr(ledger, "post", crash)
    assert money.deposit("70.00", key="crash")["statusCode"] == 500
    assert money.chain(money.tempo)["supply"] == {"USDC": 70 * USDC}
    _data(money.deposit("70.00", key="crash"))
    assert money.chain(money.tempo)["supply"] == {"USDC": 70 * USDC}
    assert money.stripe_objects().get("payment_intent") == 1
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 70 * USDC
    assert money.ledger(Account.supply("USDC")) == 70 * USDC and money.ledger(Account.reserve("USD")) == 70_00


# -- withdrawals and transfers out --------------------------------------------------------------------------


def test_a_bank_withdrawal_burns_and_pays_out_and_a_failed_payout_credits_back(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("200.00"))
    body = {
        "amount": "75.50",
        "destination": {"type": "bank", "bank_account": "btok_us_verified", "speed": "instant"},
    }
    data = _data(money.post("withdraw", body, key="wd-1"))
    txn = data["transaction"]
    assert (txn["type"], txn["amount"], txn["status"], txn["counterparty"]) == (
        "withdrawal",
        "75.50",
        "completed",
        "bank",
    )
    assert data["arrival_date"] and data["payout_id"].startswith("po_") and data["fee"] == "0.00"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 124_500_000
    assert (
        money.ledger(Account.supply("USDC")) == 124_500_000 and money.ledger(Account.reserve("USD")) == 124_50
    )
    assert money.chain(money.tempo)["supply"] == {"USDC": 124_500_000}
    objects = money.stripe_objects()
    assert (objects.get("account"), objects.get("transfer"), objects.get("payout")) == (1, 1, 1)
    assert len(money.events("withdrawal:complete")) == 1
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "275.50"
    assert _data(money.post("withdraw", body, key="wd-1")) == data  # a replay pays nothing again
    assert money.stripe_objects().get("payout") == 1

    control(money.stripe, "POST", f"/_control/payouts/{data['payout_id']}/fail", {"code": "account_closed"})
    delivery = money.delivered("payout.failed", data["payout_id"])
    assert money.webhook(delivery)["outcome"] == "reversed"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 200 * USDC
    assert (
        money.ledger(Account.supply("USDC")) == 200 * USDC and money.ledger(Account.reserve("USD")) == 200_00
    )
    assert money.chain(money.tempo)["supply"] == {"USDC": 200 * USDC}
    assert money.stripe_objects().get("transfer_reversal") == 1
    line = body_of(money.env.call("GET", "transactions", query={"type": "withdrawal"}))["data"][
        "transactions"
    ][0]
    assert line["status"] == "reversed"
    assert money.webhook(delivery)["outcome"] == "duplicate"
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 200 * USDC


def test_a_withdrawal_to_an_address_sends_at_the_provider_with_its_fee(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("100.00"))
    body = {"amount": "30", "destination": {"type": "address", "address": OUTSIDE, "chain": "tempo"}}
    data = _data(money.post("withdraw", body))
    assert data["fee"] == "0.01" and data["provider"] == "tempo" and data["arrival_date"] is None
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 69_990_000
    assert money.ledger(Account.fees("tenant-a", "USDC")) == 10_000
    assert money.ledger(Account.supply("USDC")) == 100 * USDC  # still outstanding, outside our custody
    assert money.chain(money.tempo)["balances"][OUTSIDE] == {"USDC": 30 * USDC}


def test_a_transfer_to_an_outside_address_is_a_provider_transfer_and_internal_ones_stay_free(
    money: Money,
) -> None:
    money.env.onboard(ALICE)
    money.env.onboard(BOB)
    _data(money.deposit("100.00"))
    out = _data(money.post("transfer", {"to": OUTSIDE, "amount": "12.5", "memo": "rent"}))
    assert out["fee"] == "0.01" and out["provider"] == "tempo"
    assert out["transaction"]["type"] == "transfer_sent" and out["transaction"]["counterparty"] == OUTSIDE
    assert len(money.events("transfer:sent")) == 1
    internal = _data(money.post("transfer", {"to": "usr_bob", "amount": "1"}))
    assert internal["fee"] == "0.00" and internal["provider"] is None
    assert money.env.balances()["USDC"] == "86.49" and money.env.balances(BOB)["USDC"] == "1.00"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "500", "destination": {"type": "address", "address": OUTSIDE, "chain": "tempo"}},
        {"amount": "50.001", "destination": {"type": "bank", "bank_account": "btok_us_verified"}},
        {"amount": "5", "destination": {"type": "address", "address": "0x1234", "chain": "tempo"}},
        {"amount": "5", "destination": {"type": "bank", "bank_account": "acct_123"}},
        {"amount": "5", "destination": {"type": "carrier_pigeon"}},
        {"amount": "5", "currency": "DOGE", "destination": {"type": "bank", "bank_account": "btok_x"}},
    ],
)
def test_bad_or_uncovered_withdrawals_move_nothing(money: Money, body: dict[str, Any]) -> None:
    money.env.onboard(ALICE)
    _data(money.deposit("100.00"))
    before, chain = money.env.money_items(), money.chain(money.tempo)["balances"]
    response = money.post("withdraw", body)
    assert response["statusCode"] == 400, response["body"]
    assert body_of(response)["code"] in ("validation_error", "insufficient_balance")
    assert money.env.money_items() == before and money.chain(money.tempo)["balances"] == chain
    assert money.stripe_objects().get("payout", 0) == 0


def test_a_transfer_out_that_the_provider_cannot_reach_is_held_and_finished_by_the_retry(
    money: Money,
) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("100.00"))
    money.tempo.post(
        "/_control/fail", json={"mode": "error", "status": 503, "count": 1, "path": "/v1/transfers"}
    )
    body = {"to": OUTSIDE, "amount": "10"}
    _error(money.post("transfer", body, key="out-1"), 503, "provider_unavailable")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 89_990_000  # held
    _data(money.post("transfer", body, key="out-1"))
    assert money.chain(money.tempo)["balances"][OUTSIDE] == {"USDC": 10 * USDC}
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 89_990_000


# -- the sweeper finishes what nobody retried ----------------------------------------------------------------


def test_the_sweeper_finishes_a_deposit_and_a_transfer_out_left_open(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("100.00"))
    money.tempo.post("/_control/fail", json={"mode": "error", "status": 503, "count": 1, "path": "/v1/mints"})
    _error(money.deposit("40.00", key="never-retried"), 503, "provider_unavailable")
    money.tempo.post(
        "/_control/fail", json={"mode": "error", "status": 503, "count": 1, "path": "/v1/transfers"}
    )
    _error(money.post("transfer", {"to": OUTSIDE, "amount": "10"}), 503, "provider_unavailable")
    sweeper = bootstrap.app().sweeper
    assert sweeper.sweep().due == 0  # not yet past their deadline
    money.env.clock.advance(minutes=6)
    report = sweeper.sweep()
    assert report.due == 2 and report.left_open == 0, report
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 129_990_000
    assert money.chain(money.tempo)["supply"] == {"USDC": 140 * USDC}
    assert money.chain(money.tempo)["balances"][OUTSIDE] == {"USDC": 10 * USDC}
    assert money.stripe_objects().get("payment_intent") == 2
    statuses = [t["status"] for t in body_of(money.env.call("GET", "transactions"))["data"]["transactions"]]
    assert statuses == ["completed", "completed", "completed"]
    assert sweeper.sweep().due == 0


def test_twenty_concurrent_deposits_let_through_exactly_those_that_fit(money: Money) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("100.00"))
    service = bootstrap.app().deposits
    person = Principal("usr_alice", "tenant-a", frozenset({"consumer"}))
    start = threading.Barrier(20)

    def deposit(index: int) -> str:
        start.wait()
        try:
            service.deposit(person, Decimal("150"), "USDC", "pm_card_visa", "instant", f"concurrent-{index}")
        except LimitExceeded:
            return "limit_exceeded"
        return "deposited"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(deposit, range(20)))
    # $900 of the $1,000 daily limit left: six deposits of $150 fit; the rest are refused before any charge.
    assert outcomes.count("deposited") == 6 and outcomes.count("limit_exceeded") == 14
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 1000 * USDC
    assert money.chain(money.tempo)["supply"] == {"USDC": 1000 * USDC}
    assert money.stripe_objects().get("payment_intent") == 7
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "1000.00"


def test_the_connected_account_is_made_once_per_bank_account(money: Money) -> None:
    money.env.onboard(ALICE)
    _data(money.deposit("100.00"))
    bank = {"type": "bank", "bank_account": "btok_us_verified"}
    for amount in ("10", "20"):
        assert _data(money.post("withdraw", {"amount": amount, "destination": bank}))["arrival_date"]
    other = {"type": "bank", "bank_account": "btok_us_verified_other"}
    _data(money.post("withdraw", {"amount": "5", "destination": other}))
    objects = money.stripe_objects()
    assert (objects.get("account"), objects.get("payout")) == (2, 3)
    assert money.env.balances()["USDC"] == "65.00"


def test_the_webhook_completing_a_card_deposit_first_leaves_the_request_its_answer(
    money: Money, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    deposits = bootstrap.app().deposits
    payments = bootstrap.app().adapters.payments
    real_charge = payments.charge

    def charge_then_webhook(*args: Any, **kwargs: Any) -> Any:
        result = real_charge(*args, **kwargs)
        assert deposits.payment_succeeded(result, []) == "deposited"  # Stripe's event, delivered first
        return result

    monkeypatch.setattr(payments, "charge", charge_then_webhook)
    data = _data(money.deposit("80.00", key="race"))
    assert data["transaction"]["status"] == "completed"
    assert money.chain(money.tempo)["supply"] == {"USDC": 80 * USDC}
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 80 * USDC
    assert len(money.events("deposit:complete")) == 1


def test_a_payout_stripe_refuses_credits_back_and_one_it_cannot_reach_is_finished_by_the_retry(
    money: Money,
) -> None:
    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    _data(money.deposit("100.00"))
    body = {"amount": "40", "destination": {"type": "bank", "bank_account": "btok_us_verified"}}
    control(money.stripe, "POST", "/_control/fail", {"path": "/v1/payouts", "status": 400, "count": 1})
    _error(money.post("withdraw", body, key="refused"), 400, "invalid_state")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 100 * USDC  # minted back, journal reversed
    assert money.chain(money.tempo)["supply"] == {"USDC": 100 * USDC}
    assert money.stripe_objects().get("transfer_reversal") == 1  # the connected account gave it back
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "100.00"

    control(money.stripe, "POST", "/_control/fail", {"path": "/v1/payouts", "status": 503, "count": 1})
    _error(money.post("withdraw", body, key="unreachable"), 503, "service_unavailable")
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 60 * USDC  # held while open
    data = _data(money.post("withdraw", body, key="unreachable"))
    assert data["transaction"]["status"] == "completed" and money.stripe_objects().get("payout") == 1
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 60 * USDC
    assert money.chain(money.tempo)["supply"] == {"USDC": 60 * USDC}


def test_a_mint_the_provider_refuses_for_good_refunds_the_payment(
    money: Money, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.providers.errors import ProviderRejected

    wallet_id = money.env.onboard(ALICE)["wallet"]["wallet_id"]
    tempo = bootstrap.app().adapters.providers["tempo"]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ProviderRejected("tempo", "invalid_request", "address not allowed", 422)

    monkeypatch.setattr(tempo, "mint", refuse)
    _error(money.deposit("30.00", key="refused-mint"), 400, "invalid_state")
    assert money.stripe_objects().get("refund") == 1
    assert money.ledger(Account.wallet(wallet_id, "USDC")) == 0 and money.chain(money.tempo)["supply"] == {}
    assert body_of(money.env.call("GET", "limits"))["data"]["daily"]["used"] == "0.00"
    assert body_of(money.env.call("GET", "transactions"))["data"]["transactions"][0]["status"] == "failed"
