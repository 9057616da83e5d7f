"""Rate limits through the real handlers against moto: exact under concurrency, 429 with its headers,
nothing done when refused, webhooks never limited, and the tenant's cap on live ephemeral wallets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dynamodb_rate_limits import DynamoDBRateCounter
from shared.api.rate_limits import RateLimiter
from tests.integration.conftest import (
    CONSUMER,
    MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
    set_tenant_limits,
)
from tests.integration.test_wallets_api import Env, env, live_standin  # noqa: F401 (fixtures)
from tests.unit.stripe_standin.conftest import control

EPHEMERAL = "/api/v1/wallets/ephemeral/create"
# Wall-clock instant the limiter sees: 0.4 s into a second and 20.4 s into a minute, so every window of a
# test is the same one however slowly the machine runs it.
WALL = 1_900_000_040.4
BIG = {"purpose": "p2p", "expiryMinutes": 10080, "amount": 1_000_000}


@pytest.fixture
def limited(env: Env) -> Env:  # noqa: F811
    adapters = bootstrap.app().adapters
    counter = DynamoDBRateCounter(adapters.dynamodb, TABLE, lambda: adapters.clock.now().timestamp(), 1.0)
    # The limiter's clock held still (as an override, the way Adapters takes any of its parts).
    adapters.__dict__["rate_limiter"] = RateLimiter(counter, adapters.tenant_limits, now=lambda: WALL)
    return env


def ephemeral(case: Env, principal: dict[str, str] = CONSUMER, **headers: str) -> dict[str, Any]:
    return case.call(api_event("POST", EPHEMERAL, body=BIG, principal=principal, headers=headers))


def wallets_in(case: Env) -> list[dict[str, Any]]:
    return [
        i for i in scan_all(case.dynamodb) if i["pk"]["S"].startswith("WALLET#") and i["sk"]["S"] == "META"
    ]


def test_thirty_back_to_back_creations_make_ten_and_refuse_the_rest_doing_nothing(limited: Env) -> None:
    """The finding: 30 consumer creations of a 1,000,000 wallet with a 7-day expiry all answered 201."""
    answers = [ephemeral(limited) for _ in range(30)]
    assert [a["statusCode"] for a in answers] == [201] * 10 + [429] * 20
    refused = answers[10]
    assert body_of(refused)["code"] == "rate_limited" and body_of(refused)["success"] is False
    # 0.6 s left in the second: the caller may retry in 1 s.
    assert header(refused, "Retry-After") == "1"
    assert header(refused, "RateLimit-Limit") == "10"
    assert header(refused, "RateLimit-Remaining") == "0"
    assert header(refused, "RateLimit-Reset") == "1"
    assert header(refused, "X-Request-ID")
    # The ten made ten wallets, ten data keys, ten cards and ten schedules; the twenty refused made none.
    assert len(wallets_in(limited)) == 10
    assert limited.locked_kms.calls.get("generate_data_key") == 10
    assert control(limited.standin, "GET", "/_control/state")["objects"]["issuing.card"] == 10
    assert len(limited.schedules()) == 10
    stats = next(i for i in scan_all(limited.dynamodb) if i["pk"]["S"] == "STATS#tenant-a")
    assert stats["live_ephemeral"]["N"] == "10"


def test_an_admitted_answer_carries_the_tightest_window(limited: Env) -> None:
    first = ephemeral(limited)
    assert first["statusCode"] == 201
    # Creation is the tighter window (10 a second) beside the consumer's 100 a minute.
    assert (header(first, "RateLimit-Limit"), header(first, "RateLimit-Remaining")) == ("10", "9")
    assert header(first, "RateLimit-Reset") == "1"


def test_twenty_concurrent_calls_over_a_limit_of_ten_let_exactly_ten_through(limited: Env) -> None:
    set_tenant_limits(limited.dynamodb, "tenant-a", consumer_per_minute=10)
    path = "/api/v2/invoice-wallets/wal_000000000000000000000000/status"

    def read(_: int) -> dict[str, Any]:
        return limited.call(api_event("GET", path, principal=CONSUMER))

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(read, range(20)))
    statuses = sorted(a["statusCode"] for a in answers)
    assert statuses == [404] * 10 + [429] * 10, statuses
    windows = [i for i in scan_all(limited.dynamodb, rate_windows=True) if i["pk"]["S"].startswith("RATE#")]
    assert [(w["pk"]["S"], w["count"]["N"]) for w in windows] == [
        ("RATE#consumer#tenant-a#cus_alice#all", "10")
    ]
    # A minute window: 39.6 s left.
    refused = next(a for a in answers if a["statusCode"] == 429)
    assert header(refused, "Retry-After") == "40" and header(refused, "RateLimit-Limit") == "10"


def test_a_window_refusing_gives_back_what_the_earlier_ones_took(limited: Env) -> None:
    set_tenant_limits(limited.dynamodb, "tenant-a", consumer_per_minute=3, creation_per_second=50)
    answers = [ephemeral(limited)["statusCode"] for _ in range(5)]
    assert answers == [201, 201, 201, 429, 429]
    counts = {
        i["pk"]["S"]: i["count"]["N"]
        for i in scan_all(limited.dynamodb, rate_windows=True)
        if i["pk"]["S"].startswith("RATE#")
    }
    # The refused two took a creation slot first and gave it back.
    assert counts == {"RATE#tenant#tenant-a#create": "3", "RATE#consumer#tenant-a#cus_alice#all": "3"}


def test_stripe_webhooks_are_never_limited(dynamodb: Any) -> None:
    import functions.webhooks.handler as webhooks

    secrets = {"stripe_secret_key": "sk_test_limits", "stripe_webhook_secret": "whsec_limits"}
    bootstrap.use(bootstrap.Adapters(dynamodb=dynamodb, stripe_keys=secrets, providers={}))
    event = api_event("POST", "/webhooks/stripe", body={"id": "evt_1"}, principal=None)
    event["requestContext"]["identity"] = {"sourceIp": "198.51.100.7"}
    answers = [webhooks.lambda_handler(event, FakeLambdaContext(function_name="webhooks")) for _ in range(15)]
    assert {a["statusCode"] for a in answers} == {400}  # unsigned: refused by the signature, never 429
    assert all(header(a, "RateLimit-Limit") is None for a in answers)
    assert [i for i in scan_all(dynamodb, rate_windows=True) if i["pk"]["S"].startswith("RATE#")] == []


def test_the_live_ephemeral_cap_holds_exactly_under_concurrency_and_frees_on_transform(limited: Env) -> None:
    set_tenant_limits(
        limited.dynamodb, "tenant-a", live_ephemeral_wallets=4, tenant_per_second=1000, creation_per_second=50
    )
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: ephemeral(limited, MERCHANT), range(10)))
    assert sorted(a["statusCode"] for a in answers) == [201] * 4 + [429] * 6
    assert len(wallets_in(limited)) == 4
    capped = next(a for a in answers if a["statusCode"] == 429)
    assert body_of(capped)["code"] == "rate_limited"
    assert (header(capped, "RateLimit-Limit"), header(capped, "Retry-After")) == ("4", "60")

    # At the cap a creation costs nothing outside: no data key, no card, no schedule.
    keys_before = limited.locked_kms.calls.get("generate_data_key")
    assert ephemeral(limited, MERCHANT)["statusCode"] == 429
    assert limited.locked_kms.calls.get("generate_data_key") == keys_before

    made = next(body_of(a)["data"]["walletId"] for a in answers if a["statusCode"] == 201)
    moved = limited.call(api_event("POST", f"/api/v2/invoice-wallets/{made}/transform", principal=MERCHANT))
    assert moved["statusCode"] == 200
    assert ephemeral(limited, MERCHANT)["statusCode"] == 201
    assert ephemeral(limited, MERCHANT)["statusCode"] == 429
    stats = next(i for i in scan_all(limited.dynamodb) if i["pk"]["S"] == "STATS#tenant-a")
    assert stats["live_ephemeral"]["N"] == "4"
