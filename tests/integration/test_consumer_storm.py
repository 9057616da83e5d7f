"""The consumer's fault storm, sibling of the funding one (test_funding_faults.py): a seeded mix of deposits,
transfers (between consumers and out), batches, swaps and withdrawals (to a bank and to an address) from
several threads, while Tempo and Circle fail or time out on a share of calls, Stripe refuses some requests
and DynamoDB cancels some transactions as conflicts. Clients then retry what failed with the same keys and
the sweeper finishes what nobody retried. Afterwards: per asset the ledger sums to zero and per backing
currency the reserve equals the supply, the providers' supply is the ledger's, what reached outside addresses
is what the ledger sent there, no KYC counter passed its limit, and Stripe charged, transferred and paid out
once per operation."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_connect import StripeBankPayouts
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.bootstrap import Adapters
from shared.consumer.records import COINS
from shared.ledger.accounts import Account
from shared.ledger.reserve import Status, reserve_report
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import TABLE, FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_consumer_api import Env
from tests.integration.test_consumer_api import env as consumer_env  # noqa: F401  (the fixture, reused)
from tests.integration.test_consumer_money import STRIPE_KEY, WEBHOOK_SECRET
from tests.integration.test_consumer_money import servers as servers
from tests.integration.test_funding_faults import FaultyTable, cancelled
from tests.unit.stripe_standin.conftest import control

SEED = int(os.environ.get("CONSUMER_STORM_SEED", "20300115"))
OPERATIONS = int(os.environ.get("CONSUMER_STORM_OPERATIONS", "90"))
THREADS = 4
PEOPLE = [
    ({"sub": f"usr_storm{n}", "tenant_id": "tenant-a", "roles": "consumer"}, f"storm{n}@example.com")
    for n in range(4)
]
# Two outside addresses per provider; what they hold at the end is what the ledger sent outside.
OUTSIDE = ["0x" + f"{n:02x}" * 20 for n in (0xA1, 0xB2)]
USDC = 10**6


class Storm:
    def __init__(
        self, env: Env, stripe: BackgroundStandIn, chains: dict[str, httpx.Client], table: Any
    ) -> None:
        self.env = env
        self.stripe = stripe
        self.chains = chains
        self.table = table
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.retry: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        self.errors: list[str] = []

    def call(self, function: str, path: str, who: dict[str, str], body: Any, key: str) -> dict[str, Any]:
        import importlib

        handler = importlib.import_module(f"functions.{function}.handler")
        event = api_event(
            "POST", f"/api/consumer/{path}", body=body, principal=who, headers={"Idempotency-Key": key}
        )
        return dict(handler.lambda_handler(event, FakeLambdaContext(function_name=function)))

    def run(self, kind: str, request: Callable[[], dict[str, Any]]) -> None:
        answer = request()
        status = answer["statusCode"]
        code = body_of(answer).get("code") if status >= 400 else None
        with self.lock:
            self.outcomes[f"{kind}:{status}" + (f":{code}" if code else "")] += 1
            # As clients do: a 5xx, a 429 or a 409 conflict (not a refused quote) is asked again later.
            if status >= 500 or status == 429 or code == "conflict":
                self.retry.append((kind, request))

    def chain(self, name: str) -> dict[str, Any]:
        return dict(self.chains[name].get("/_control/state").json())


@pytest.fixture
def storm(
    consumer_env: Env,  # noqa: F811
    servers: tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle],
) -> Iterator[Storm]:
    stripe_server, tempo, circle = servers
    control(stripe_server, "POST", "/_control/reset")
    chains = {
        "tempo": httpx.Client(base_url=tempo.base_url),
        "circle": httpx.Client(base_url=circle.base_url),
    }
    for client in chains.values():
        client.post("/_control/reset", json={"seed": SEED})
    made = bootstrap.app().adapters
    table = FaultyTable(made.dynamodb)
    client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    # A short read timeout, so that an injected `timeout_after` (done, answer lost) costs little time.
    timeout = httpx.Timeout(connect=1.0, read=0.25, write=1.0, pool=2.0)
    retry = RetryPolicy(attempts=2, base_delay_s=0.005, max_delay_s=0.01)
    providers: dict[str, Any] = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    bootstrap.use(
        Adapters(
            made.settings.model_copy(
                update={
                    "destroy_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
                    "scheduler_role_arn": "arn:aws:iam::123456789012:role/scheduler",
                }
            ),
            dynamodb=table,
            kms=made.kms,
            scheduler=made.scheduler,
            cards=made.cards,
            clock=consumer_env.clock,
            payments=StripePaymentProcessor(client),
            connect=StripeBankPayouts(client),
            providers=providers,
            stripe_keys={"stripe_secret_key": STRIPE_KEY, "stripe_webhook_secret": WEBHOOK_SECRET},
            provider_keys={},
        )
    )
    from tests.integration.conftest import set_tenant_limits

    # Four threads of money calls may pass the default per-second limits: this storm is about faults.
    set_tenant_limits(
        consumer_env.dynamodb,
        "tenant-a",
        tenant_money_per_second=1000,
        tenant_per_second=1000,
        consumer_money_per_minute=1000,
    )
    yield Storm(consumer_env, stripe_server, chains, table)
    for each in chains.values():
        each.close()


def _plan(storm: Storm, rng: random.Random) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """A seeded mix of operations, each with its own Idempotency-Key (a retry repeats the very request)."""
    plan: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    call = storm.call
    for n in range(OPERATIONS):
        who, _ = rng.choice(PEOPLE)
        other, _ = rng.choice([p for p in PEOPLE if p[0] is not who])
        key = f"storm-{n}"
        roll = rng.random()
        if roll < 0.25:
            body: Any = {
                "amount": f"{rng.randint(20, 150)}.00",
                "payment_method": "pm_card_visa",
                "urgency": "instant",
            }
            plan.append(("deposit", lambda w=who, b=body, k=key: call("consumer_money", "deposit", w, b, k)))
        elif roll < 0.45:
            body = {"to": other["sub"], "amount": f"{rng.randint(1, 60)}.50"}
            plan.append(
                ("transfer", lambda w=who, b=body, k=key: call("consumer_money", "transfer", w, b, k))
            )
        elif roll < 0.55:
            body = {"to": rng.choice(OUTSIDE), "amount": f"{rng.randint(1, 20)}"}
            plan.append(
                ("transfer_out", lambda w=who, b=body, k=key: call("consumer_money", "transfer", w, b, k))
            )
        elif roll < 0.67:
            lines = [{"to": rng.choice(OUTSIDE), "amount": f"{rng.randint(1, 9)}", "currency": "USDC"}]
            lines += [{"to": other["sub"], "amount": f"{rng.randint(1, 9)}.25", "currency": "USDC"}]
            body = {"recipients": lines}
            plan.append(
                ("batch", lambda w=who, b=body, k=key: call("consumer_transfers", "batch-transfer", w, b, k))
            )
        elif roll < 0.79:
            body = {"from": "USDC", "to": "EURC", "amount": f"{rng.randint(5, 40)}", "max_slippage_bps": 50}
            plan.append(("swap", lambda w=who, b=body, k=key: call("consumer_swaps", "swap", w, b, k)))
        elif roll < 0.9:
            speed = rng.choice(["instant", "standard"])
            destination = {"type": "bank", "bank_account": "btok_us_verified", "speed": speed}
            body = {"amount": f"{rng.randint(5, 50)}", "destination": destination}
            plan.append(
                ("withdraw_bank", lambda w=who, b=body, k=key: call("consumer_money", "withdraw", w, b, k))
            )
        else:
            destination = {"type": "address", "address": rng.choice(OUTSIDE), "chain": "tempo"}
            body = {"amount": f"{rng.randint(5, 30)}", "destination": destination}
            plan.append(
                ("withdraw_address", lambda w=who, b=body, k=key: call("consumer_money", "withdraw", w, b, k))
            )
    return plan


def _faults_on(storm: Storm, rng: random.Random) -> None:
    for client in storm.chains.values():
        client.post("/_control/fail", json={"mode": "error", "status": 503, "probability": 0.12})
        client.post(
            "/_control/fail",
            json={"mode": "timeout_after", "probability": 0.05, "hang_seconds": 0.3, "path": "/v1"},
        )
    for path in ("/v1/payment_intents", "/v1/transfers", "/v1/payouts"):
        control(storm.stripe, "POST", "/_control/fail", {"path": path, "count": 3, "status": 500})
    conflicts = random.Random(rng.random())
    lock = threading.Lock()

    def some_transactions(name: str, kwargs: dict[str, Any]) -> bool:
        with lock:
            return name == "transact_write_items" and conflicts.random() < 0.06

    storm.table.inject(some_transactions, "before", cancelled("TransactionConflict"), times=10_000)


def _faults_off(storm: Storm) -> int:
    fired = 0
    for client in storm.chains.values():
        fired += int(client.get("/_control/state").json()["faults"]["fired"])
        client.post("/_control/clear_faults")
    storm.stripe.standin.faults.reset()
    fired += storm.table.fired
    storm.table.clear()
    return fired


def test_a_seeded_consumer_storm_under_faults_leaves_the_books_exact(
    storm: Storm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    import shared.api

    def bug(message: str, *args: Any, **kwargs: Any) -> None:
        with storm.lock:
            storm.errors.append(traceback.format_exc())

    monkeypatch.setattr(shared.api.logger, "exception", bug)

    rng = random.Random(SEED)
    env = storm.env
    wallets: dict[str, str] = {}
    for who, email in PEOPLE:
        n = who["sub"].removeprefix("usr_storm")
        response = env.call("POST", "onboard", who, {"email": email, "phone": f"+1415555020{n}"})
        wallets[who["sub"]] = body_of(response)["data"]["wallet"]["wallet_id"]
        # Money to move, before the faults start.
        first = storm.call(
            "consumer_money",
            "deposit",
            who,
            {"amount": "300.00", "payment_method": "pm_card_visa", "urgency": "instant"},
            f"seed-{n}",
        )
        assert first["statusCode"] == 200, first["body"]
    plan = _plan(storm, rng)
    started = time.perf_counter()
    _faults_on(storm, rng)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(storm.run, kind, request) for kind, request in plan]:
            future.result()
    faults = _faults_off(storm)
    storm_seconds = time.perf_counter() - started
    # The providers' breakers opened by the faults close after their cooldown on the (fixed) clock.
    env.clock.advance(minutes=10)
    retries = 0
    for _ in range(3):
        pending, storm.retry[:] = list(storm.retry), []
        retries += len(pending)
        for kind, request in pending:
            storm.run(f"retry_{kind}", request)
        if not storm.retry:
            break
    sweeps = Counter[str]()
    for _ in range(5):
        env.clock.advance(minutes=20)
        report = bootstrap.app().sweeper.sweep()
        sweeps.update(report.outcomes)
        if report.due == 0:
            break
    assert report.due == 0, sweeps
    elapsed = time.perf_counter() - started
    print(
        "\nconsumer storm:",
        json.dumps(
            {
                "operations": len(plan),
                "faults_fired": faults,
                "retries": retries,
                "swept": dict(sweeps),
                "storm_s": round(storm_seconds, 1),
                "seconds": round(elapsed, 1),
            }
        ),
        "\noutcomes:",
        dict(sorted(storm.outcomes.items())),
    )
    # A 5xx is a bug, save one: the threads here share each handler module's resolver, whose per-request
    # context Powertools keeps on the module-level app (one request per process in Lambda), so two requests
    # in one module at once may lose it. Those were retried like any 5xx; any other is a failure.
    bugs = [error for error in storm.errors if "KeyError: '_route'" not in error]
    assert bugs == [], bugs
    assert faults > 0
    _assert_books(storm, wallets)


def _assert_books(storm: Storm, wallets: dict[str, str]) -> None:
    ledger = DynamoDBLedger(storm.env.dynamodb, TABLE)
    # Per asset the ledger sums to zero; per backing currency the reserve equals the supply.
    report = reserve_report(ledger.reserve_snapshot(), {})
    assert report.status is Status.BALANCED, report
    items = scan_all(storm.env.dynamodb)
    # No consumer's wallet is negative, and no batch or swap still holds money.
    for account in [Account.wallet(w, coin) for w in wallets.values() for coin in COINS]:
        assert ledger.balance(account) >= 0, account
    for item in items:
        if item["sk"]["S"].startswith(("BATCH#", "SWAP#")):
            held = item.get("batch_id", item.get("swap_id"))
            assert held is not None
            assert all(ledger.balance(Account.wallet(held["S"], coin)) == 0 for coin in COINS), item["sk"]
    # What the providers minted less what they burned is the ledger's supply, coin by coin: no deposit was
    # minted twice, no withdrawal or swap burned twice.
    chains = {name: storm.chain(name) for name in storm.chains}
    for coin in COINS:
        at_providers = sum(int(chain["supply"].get(coin, 0)) for chain in chains.values())
        assert at_providers == ledger.balance(Account.supply(coin)), coin
    # What reached the outside addresses is what the ledger sent outside: no transfer out paid twice.
    for coin in COINS:
        outside = sum(
            int(chain["balances"].get(address, {}).get(coin, 0))
            for chain in chains.values()
            for address in OUTSIDE
        )
        assert outside == -ledger.balance(Account.external("chain", coin)), coin
    # No KYC counter passed its limit.
    counters = [i for i in items if i["sk"]["S"].startswith("USAGE#")]
    assert counters and all(0 <= int(i["used"]["N"]) <= int(i["limit"]["N"]) for i in counters)
    # Stripe charged once per completed deposit and paid out once per completed bank withdrawal.
    ops = [i for i in items if i["sk"]["S"].startswith("OP#")]

    def completed(kind: str, bank: bool | None = None) -> list[dict[str, Any]]:
        return [
            o
            for o in ops
            if o["kind"]["S"] == kind
            and o["state"]["S"] == "completed"
            and (bank is None or (o["facts"]["M"].get("destination", {}).get("S") == "bank") == bank)
        ]

    with storm.stripe.standin.store.lock:
        objects = [dict(o) for o in storm.stripe.standin.store.objects.values()]
    charged = [o for o in objects if o.get("object") == "payment_intent" and o.get("status") == "succeeded"]
    refunded = {o.get("payment_intent") for o in objects if o.get("object") == "refund"}
    assert len([c for c in charged if c["id"] not in refunded]) == len(completed("deposit"))
    payouts = [o for o in objects if o.get("object") == "payout"]
    bank = completed("withdrawal", bank=True)
    assert len(payouts) == len(bank)
    assert sum(int(p["amount"]) for p in payouts) == sum(int(o["fiat_amount"]["N"]) for o in bank)
    assert Decimal(0) <= Decimal(ledger.balance(Account.reserve("USD")))
