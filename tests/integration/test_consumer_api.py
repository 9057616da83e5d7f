"""The consumer function on moto: onboarding, limits, internal transfers, reads, and bad input that moves
nothing (the ledger and the consumer items are read before and after)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from shared import bootstrap
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings
from shared.errors import LimitExceeded
from shared.ledger import movements
from shared.ledger.assets import STABLECOINS
from tests.integration.conftest import TABLE, FakeLambdaContext, api_event, body_of, header, scan_all
from tests.integration.test_wallets_api import LockedClient

NOW = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
ALICE = {"sub": "usr_alice", "tenant_id": "tenant-a", "roles": "consumer"}
BOB = {"sub": "usr_bob", "tenant_id": "tenant-a", "roles": "consumer"}
CAROL = {"sub": "usr_carol", "tenant_id": "tenant-a", "roles": "consumer"}
OTHER_TENANT_BOB = {"sub": "usr_bob", "tenant_id": "tenant-b", "roles": "consumer"}
MERCHANT = {"sub": "merchant-1", "tenant_id": "tenant-a", "roles": "merchant"}
CONTACTS = {
    "usr_alice": ("alice@example.com", "+14155550101"),
    "usr_bob": ("bob@example.com", "+14155550102"),
    "usr_carol": ("carol@example.com", "+14155550103"),
}


MONEY_ROUTES = ("transfer", "deposit", "withdraw")


class UnusedCards:
    """Consumer wallets carry no card: any call to the issuer is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"consumer onboarding called the card issuer ({name})")


@dataclass
class Env:
    dynamodb: Any
    clock: FixedClock
    ledger: DynamoDBLedger

    def call(
        self,
        method: str,
        path: str,
        principal: dict[str, str] = ALICE,
        body: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        import functions.consumer.handler as consumer
        import functions.consumer_money.handler as money

        # As API Gateway routes them: the money routes' literal paths beat the consumer proxy.
        handler, name = (money, "consumer_money") if path in MONEY_ROUTES else (consumer, "consumer")
        event = api_event(method, f"/api/consumer/{path}", body=body, principal=principal, **kwargs)
        return dict(handler.lambda_handler(event, FakeLambdaContext(function_name=name)))

    def onboard(self, principal: dict[str, str] = ALICE) -> dict[str, Any]:
        email, phone = CONTACTS[principal["sub"]]
        response = self.call("POST", "onboard", principal, {"email": email, "phone": phone})
        assert response["statusCode"] in (200, 201), response["body"]
        return body_of(response)["data"]

    def seed(self, wallet_id: str, coin: str, amount: str, tenant: str = "tenant-a") -> None:
        """Money in as a deposit would bring it (deposits are the next slice): a funding journal."""
        cents = int(Decimal(amount) * 100)
        journal = movements.funding(
            operation_id=f"seed-{wallet_id}-{coin}-{amount}",
            wallet_id=wallet_id,
            tenant_id=tenant,
            currency=STABLECOINS[coin],
            token=coin,
            fiat_amount=cents,
            created_at=self.clock.now(),
        )
        self.ledger.post(journal)

    def money_items(self) -> list[dict[str, Any]]:
        """Everything a movement writes: ledger items, consumer items (counters, history) and events."""
        prefixes = ("LEDGER#", "CONSUMER#", "OUTBOX#")
        return [item for item in scan_all(self.dynamodb) if item["pk"]["S"].startswith(prefixes)]

    def balances(self, principal: dict[str, str] = ALICE) -> dict[str, str]:
        data = body_of(self.call("GET", "balance", principal))["data"]
        return {line["currency"]: line["available"] for line in data["balances"]}


@pytest.fixture
def env(dynamodb: Any) -> Iterator[Env]:
    lock = threading.Lock()
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
    clock = FixedClock(NOW)
    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": key_id,
            "USD_RATES": "EUR=1.0850@2030-01-15T00:00:00Z",
            "POWERTOOLS_SERVICE_NAME": "consumer",
        }
    )
    locked = LockedClient(dynamodb, lock)
    adapters = Adapters(
        settings,
        dynamodb=locked,
        kms=LockedClient(kms, lock),
        scheduler=LockedClient(boto3.client("scheduler", region_name="us-east-1"), lock),
        cards=UnusedCards(),
        clock=clock,
    )
    bootstrap.use(adapters)
    yield Env(dynamodb, clock, DynamoDBLedger(locked, TABLE, backoff=lambda _: None))
    bootstrap.reset()


# -- onboarding ---------------------------------------------------------------------------------------


def test_onboard_makes_profile_and_persistent_wallet_once_per_person(env: Env) -> None:
    body = {"email": "Alice@Example.com", "phone": "+14155550101"}
    first = env.call("POST", "onboard", ALICE, body)
    assert first["statusCode"] == 201, first["body"]
    data = body_of(first)["data"]
    assert data["user"]["id"] == "usr_alice" and data["user"]["email"] == "alice@example.com"
    assert data["user"]["kyc_level"] == 1 and data["limits"]["kyc_level"] == 1
    wallet = data["wallet"]
    assert wallet["wallet_type"] == "persistent" and wallet["wallet_address"].startswith("0x")
    assert data["limits"]["daily"]["limit"] == "1000.00" and data["limits"]["monthly"]["limit"] == "30000.00"

    again = env.call("POST", "onboard", ALICE, body)
    assert again["statusCode"] == 200 and body_of(again)["data"] == data
    items = scan_all(env.dynamodb)
    wallets = [i for i in items if i["pk"]["S"].startswith("WALLET#") and i["sk"]["S"] == "META"]
    assert len(wallets) == 1 and wallets[0]["wallet_type"]["S"] == "persistent"
    assert wallets[0]["customer_id"]["S"] == "usr_alice" and "expires_at" not in wallets[0]
    assert not [i for i in items if i["pk"]["S"].startswith("LEASE#")]  # no countdown for a persistent wallet


def test_email_or_phone_of_another_person_is_a_conflict_and_writes_nothing(env: Env) -> None:
    env.onboard(ALICE)
    before = scan_all(env.dynamodb)
    for body in (
        {"email": "ALICE@example.com", "phone": "+14155550102"},
        {"email": "bob@example.com", "phone": "+14155550101"},
    ):
        response = env.call("POST", "onboard", BOB, body)
        assert response["statusCode"] == 409 and body_of(response)["code"] == "conflict", response["body"]
    assert scan_all(env.dynamodb) == before
    # Another tenant is another world: the same email is free there.
    assert (
        env.call(
            "POST", "onboard", OTHER_TENANT_BOB, {"email": "alice@example.com", "phone": "+14155550101"}
        )["statusCode"]
        == 201
    )


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "phone": "+14155550101"},
        {"email": "a@example.com", "phone": "4155550101"},
        {"email": "a@example.com", "phone": "+0155550101"},
        {"email": "a@example.com", "phone": "+1415555010199999"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "phone": "+14155550101", "kyc_level": 3},
        {"email": 5, "phone": "+14155550101"},
    ],
)
def test_bad_onboarding_input_is_a_validation_error(env: Env, body: dict[str, Any]) -> None:
    response = env.call("POST", "onboard", ALICE, body)
    assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error", response["body"]
    assert scan_all(env.dynamodb) == []


def test_consumer_routes_are_for_consumers_and_need_onboarding(env: Env) -> None:
    merchant = env.call("GET", "balance", MERCHANT)
    assert merchant["statusCode"] == 403 and body_of(merchant)["code"] == "forbidden"
    for path in ("balance", "limits", "portfolio", "transactions", "preferences"):
        response = env.call("GET", path, ALICE)
        assert response["statusCode"] == 404 and body_of(response)["code"] == "not_found", path


# -- limits and transfers -------------------------------------------------------------------------------


def test_limits_tell_level_headroom_and_next_level(env: Env) -> None:
    env.onboard(ALICE)
    data = body_of(env.call("GET", "limits"))["data"]
    assert data["kyc_level"] == 1
    assert data["daily"] == {
        "limit": "1000.00",
        "used": "0.00",
        "remaining": "1000.00",
        "resets_at": "2030-01-16T00:00:00.000Z",
    }
    assert data["monthly"]["resets_at"] == "2030-02-01T00:00:00.000Z"
    assert data["next_level"]["level"] == 2 and data["next_level"]["daily_limit"] == "50000.00"
    assert data["next_level"]["requires"] == ["document"]


def test_transfer_by_email_phone_and_id_moves_money_in_one_transaction(env: Env) -> None:
    alice, bob, carol = env.onboard(ALICE), env.onboard(BOB), env.onboard(CAROL)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "500.00")
    calls_before = dict(env.ledger._client.calls)

    response = env.call(
        "POST", "transfer", ALICE, {"to": "BOB@example.com", "amount": "120.5", "memo": "rent"}
    )
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert data["fee"] == "0.00" and data["provider"] is None
    txn = data["transaction"]
    assert (txn["type"], txn["amount"], txn["currency"], txn["status"]) == (
        "transfer_sent",
        "120.50",
        "USDC",
        "completed",
    )
    assert txn["counterparty"] == "usr_bob" and txn["memo"] == "rent"
    writes = {k: v - calls_before.get(k, 0) for k, v in env.ledger._client.calls.items()}
    # One transaction moves the money (the KYC limit counters inside it); the two UpdateItems are the rate
    # limiter's windows (the consumer's and the money route's), counted before the route runs.
    assert (
        writes.get("transact_write_items") == 1
        and not writes.get("put_item")
        and writes.get("update_item") == 2
    )

    assert env.call("POST", "transfer", ALICE, {"to": "+14155550103", "amount": 10})["statusCode"] == 200
    assert env.call("POST", "transfer", BOB, {"to": "usr_carol", "amount": "0.000001"})["statusCode"] == 200
    assert env.balances(ALICE)["USDC"] == "369.50"
    assert env.balances(BOB)["USDC"] == "120.499999"
    assert env.balances(CAROL)["USDC"] == "10.000001"
    assert carol["wallet"]["wallet_id"] != bob["wallet"]["wallet_id"]
    totals = env.ledger.totals()["USDC"]
    assert totals.minted == 500_000_000  # internal transfers mint nothing
    limits = body_of(env.call("GET", "limits"))["data"]
    assert limits["daily"]["used"] == "130.50" and limits["monthly"]["remaining"] == "29869.50"
    received = body_of(env.call("GET", "transactions", BOB, query={"type": "transfer_received"}))["data"]
    assert [(t["amount"], t["counterparty"]) for t in received["transactions"]] == [("120.50", "usr_alice")]
    events = sorted(
        (i["event_name"]["S"], i["channels"]["L"][0]["S"])
        for i in scan_all(env.dynamodb)
        if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"].startswith(("transfer", "balance"))
    )
    assert ("transfer:received", "consumer:usr_bob") in events and (
        "transfer:sent",
        "consumer:usr_alice",
    ) in events
    assert events.count(("balance:updated", "consumer:usr_alice")) == 2


def test_eurc_counts_at_its_usd_value(env: Env) -> None:
    alice = env.onboard(ALICE)
    env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "EURC", "300.00")
    response = env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "100", "currency": "EURC"})
    assert response["statusCode"] == 200, response["body"]
    assert body_of(env.call("GET", "limits"))["data"]["daily"]["used"] == "108.50"
    balance = body_of(env.call("GET", "balance"))["data"]
    assert balance["total_usd"] == "217.00"
    portfolio = body_of(env.call("GET", "portfolio"))["data"]
    assert portfolio["rates_as_of"] == "2030-01-15T00:00:00.000Z" and portfolio["primary_provider"] == "tempo"
    assert [(b["currency"], b["amount"], b["usd_value"]) for b in portfolio["breakdown"]] == [
        ("EURC", "200.00", "217.00")
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"to": "usr_bob", "amount": "10", "currency": "DOGE"}, 400, "validation_error"),
        ({"to": "usr_bob", "amount": "1.1234567"}, 400, "validation_error"),
        ({"to": "usr_bob", "amount": 0}, 400, "validation_error"),
        ({"to": "usr_bob", "amount": "-5"}, 400, "validation_error"),
        ({"to": "usr_bob", "amount": "NaN"}, 400, "validation_error"),
        ({"to": "usr_alice", "amount": "10"}, 400, "validation_error"),
        ({"to": "alice@example.com", "amount": "10"}, 400, "validation_error"),
        ({"to": "usr_nobody", "amount": "10"}, 404, "not_found"),
        ({"to": "nobody@example.com", "amount": "10"}, 404, "not_found"),
        ({"to": "usr_bob", "amount": "1000.01"}, 400, "limit_exceeded"),
        ({"to": "usr_bob", "amount": "600", "currency": "USDT"}, 400, "insufficient_balance"),
        ({"to": "usr_bob", "amount": "10", "extra": 1}, 400, "validation_error"),
    ],
)
def test_refused_transfers_move_nothing(env: Env, body: dict[str, Any], status: int, code: str) -> None:
    alice = env.onboard(ALICE)
    env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "5000.00")
    env.seed(alice["wallet"]["wallet_id"], "USDT", "500.00")
    before = env.money_items()
    response = env.call("POST", "transfer", ALICE, body)
    assert response["statusCode"] == status and body_of(response)["code"] == code, response["body"]
    assert env.money_items() == before
    if code == "limit_exceeded":
        assert body_of(response)["details"][0] == {
            "window": "daily",
            "limit": "1000.00",
            "used": "0.00",
            "requested": "1000.01",
            "resets_at": "2030-01-16T00:00:00.000Z",
        }


def test_limit_counts_across_the_day_and_resets_at_utc_midnight(env: Env) -> None:
    alice = env.onboard(ALICE)
    env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "5000.00")
    assert env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "999.99"})["statusCode"] == 200
    over = env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "0.02"})
    assert body_of(over)["code"] == "limit_exceeded"
    assert body_of(over)["details"][0]["used"] == "999.99"
    env.clock.advance(hours=12)
    assert env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "0.02"})["statusCode"] == 200
    assert body_of(env.call("GET", "limits"))["data"]["monthly"]["used"] == "1000.01"


def test_idempotency_key_replays_the_transfer_without_moving_money_again(env: Env) -> None:
    alice = env.onboard(ALICE)
    env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "100.00")
    key = {"Idempotency-Key": "transfer-1"}
    first = env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "40"}, headers=key)
    second = env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "40"}, headers=key)
    assert first["statusCode"] == second["statusCode"] == 200
    assert body_of(first) == body_of(second) and header(second, "Idempotent-Replayed") == "true"
    assert env.balances(ALICE)["USDC"] == "60.00"
    reused = env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "41"}, headers=key)
    assert reused["statusCode"] == 409 and body_of(reused)["code"] == "idempotency_key_reuse"


def test_twenty_concurrent_transfers_let_through_exactly_those_that_fit(env: Env) -> None:
    alice = env.onboard(ALICE)
    env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "5000.00")
    assert env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": "350"})["statusCode"] == 200
    service = bootstrap.app().consumer
    sender = Principal("usr_alice", "tenant-a", frozenset({"consumer"}))
    start = threading.Barrier(20)

    def send(_: int) -> str:
        start.wait()
        try:
            service.transfer(sender, "usr_bob", Decimal("100"), "USDC", None)
        except LimitExceeded:
            return "limit_exceeded"
        return "sent"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(send, range(20)))
    # $650 of headroom left: six transfers of $100 fit, the seventh would pass the daily limit.
    assert outcomes.count("sent") == 6 and outcomes.count("limit_exceeded") == 14
    assert env.balances(ALICE)["USDC"] == "4050.00" and env.balances(BOB)["USDC"] == "950.00"
    assert body_of(env.call("GET", "limits"))["data"]["daily"]["used"] == "950.00"


# -- reads and preferences ------------------------------------------------------------------------------


def test_transactions_page_with_a_cursor_and_filters(env: Env) -> None:
    alice = env.onboard(ALICE)
    bob = env.onboard(BOB)
    env.seed(alice["wallet"]["wallet_id"], "USDC", "100.00")
    env.seed(bob["wallet"]["wallet_id"], "USDT", "100.00")
    for amount in ("1", "2", "3"):
        env.clock.advance(seconds=1)
        assert env.call("POST", "transfer", ALICE, {"to": "usr_bob", "amount": amount})["statusCode"] == 200
    env.clock.advance(seconds=1)
    assert (
        env.call("POST", "transfer", BOB, {"to": "usr_alice", "amount": "5", "currency": "USDT"})[
            "statusCode"
        ]
        == 200
    )
    first = body_of(env.call("GET", "transactions", ALICE, query={"limit": "2"}))["data"]
    assert [(t["type"], t["amount"]) for t in first["transactions"]] == [
        ("transfer_received", "5.00"),
        ("transfer_sent", "3.00"),
    ]
    second = body_of(
        env.call("GET", "transactions", ALICE, query={"limit": "2", "cursor": first["next_cursor"]})
    )["data"]
    assert [t["amount"] for t in second["transactions"]] == ["2.00", "1.00"] and second["next_cursor"] is None
    sent = body_of(env.call("GET", "transactions", ALICE, query={"type": "transfer_sent", "limit": "5"}))[
        "data"
    ]
    assert [t["amount"] for t in sent["transactions"]] == ["3.00", "2.00", "1.00"]
    usdt = body_of(env.call("GET", "transactions", ALICE, query={"currency": "USDT"}))["data"]
    assert [t["amount"] for t in usdt["transactions"]] == ["5.00"]
    for query in ({"type": "teleport"}, {"currency": "DOGE"}, {"limit": "0"}, {"cursor": "bogus!"}):
        response = env.call("GET", "transactions", ALICE, query=query)
        assert response["statusCode"] == 400, query
    foreign = env.call("GET", "transactions", BOB, query={"cursor": first["next_cursor"]})
    assert foreign["statusCode"] == 400  # another person's cursor


def test_preferences_read_and_patch(env: Env) -> None:
    env.onboard(ALICE)
    assert body_of(env.call("GET", "preferences"))["data"] == {
        "preferred_currency": "USDC",
        "smart_routing": True,
        "instant_notifications": True,
        "auto_pay": False,
    }
    patched = env.call(
        "PATCH",
        "preferences",
        ALICE,
        {"preferred_currency": "EURC", "smart_routing": False, "auto_pay": True},
    )
    assert patched["statusCode"] == 200, patched["body"]
    assert body_of(env.call("GET", "preferences"))["data"] == {
        "preferred_currency": "EURC",
        "smart_routing": False,
        "instant_notifications": True,
        "auto_pay": True,
    }
    bad = ({"preferred_currency": "DOGE"}, {"smart_routing": "yes"}, {"theme": "dark"}, {"auto_pay": "on"})
    for body in bad:
        response = env.call("PATCH", "preferences", ALICE, body)
        assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error", body


def test_balance_lists_every_coin_and_provider_views_say_unknown_before_a_check(env: Env) -> None:
    env.onboard(ALICE)
    balance = body_of(env.call("GET", "balance"))["data"]
    assert [b["currency"] for b in balance["balances"]] == ["EURC", "PYUSD", "USDB", "USDC", "USDT"]
    assert balance["total_usd"] == "0.00" and balance["balances"][0]["pending"] == "0.00"
    status = body_of(env.call("GET", "provider-status"))["data"]
    assert status["tempo"]["status"] == "unknown" and status["primary"] == "tempo"
    assert status["circle"]["currencies"] == ["EURC", "USDC"]
    health = body_of(env.call("GET", "health"))["data"]
    assert [p["name"] for p in health["providers"]] == ["tempo", "circle"]
