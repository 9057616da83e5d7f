"""Funding under faults, on moto with the Stripe, Tempo and Circle stand-ins live: a cancelled transaction,
a crash between any two steps (each in turn, then the retry), and a seeded storm of concurrent operations
while the stand-ins fail a share of calls. Afterwards the books agree exactly (funding_invariants.py)."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from local.circle.serving import BackgroundCircle
from local.stripe.app import Options
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.bootstrap import Adapters
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import (
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    scan_all,
    set_tenant_limits,
)
from tests.integration.funding_invariants import Books, check_books, plain
from tests.integration.test_funding_api import SECRETS, STRIPE_KEY, Env
from tests.integration.test_funding_api import env as funding_env  # noqa: F401  (the fixture, reused)
from tests.unit.stripe_standin.conftest import control
from tests.unit.stripe_standin.receiver import WebhookReceiver

WEBHOOK_SECRET = "whsec_faults"
SEED = 20300101


class Crash(Exception):
    """The function dies here; nothing after this point runs in this invocation."""


@dataclass
class Rule:
    matches: Callable[[str, dict[str, Any]], bool]
    when: str  # "before" (the call never happens) or "after" (it happened; the answer is lost)
    error: Callable[[], Exception]
    remaining: int


class FaultyTable:
    """The DynamoDB client with each call atomic (moto's in-process backend is not thread-safe; the real
    service is) and faults injected before or after chosen calls."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.fired = 0

    def inject(
        self,
        matches: Callable[[str, dict[str, Any]], bool],
        when: str,
        error: Callable[[], Exception],
        times: int = 1,
    ) -> None:
        self._rules.append(Rule(matches, when, error, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            rule = self._take(name, kwargs)
            if rule is not None and rule.when == "before":
                raise rule.error()
            with self._lock:
                result = method(*args, **kwargs)
            if rule is not None:
                raise rule.error()
            return result

        return call

    def _take(self, name: str, kwargs: dict[str, Any]) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(name, kwargs):
                    rule.remaining -= 1
                    self.fired += 1
                    return rule
        return None


def funding_commit(name: str, kwargs: dict[str, Any]) -> bool:
    return name == "transact_write_items" and "LEDGER#JOURNAL#" in json.dumps(kwargs["TransactItems"])


def claim_taken(name: str, kwargs: dict[str, Any]) -> bool:
    if name != "transact_write_items":
        return False
    updates = [op["Update"] for op in kwargs["TransactItems"] if "Update" in op]
    return any(
        u["Key"]["sk"]["S"] == "FUNDING" and ":provider" in u["ExpressionAttributeValues"] for u in updates
    )


def refund_recorded(name: str, kwargs: dict[str, Any]) -> bool:
    """The transaction that writes the refund record (the claim's and commit's checks only name its key)."""
    if name != "transact_write_items":
        return False
    puts = [op["Put"]["Item"] for op in kwargs["TransactItems"] if "Put" in op]
    return any(item["sk"]["S"].startswith("FUNDREFUND#") for item in puts)


def reversal_settled(name: str, kwargs: dict[str, Any]) -> bool:
    return name == "update_item" and "SET reversal" in kwargs.get("UpdateExpression", "")


def cancelled(reason: str) -> Callable[[], Exception]:
    def error() -> Exception:
        response: Any = {
            "Error": {"Code": "TransactionCanceledException", "Message": f"cancelled [{reason}]"},
            "CancellationReasons": [{"Code": "None"}, {"Code": reason}],
        }
        return ClientError(response, "TransactWriteItems")

    return error


class Breakable:
    """A provider or payment processor whose next call of `method` dies after it took effect."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.crash_after: set[str] = set()

    @property
    def name(self) -> str:
        return str(self._inner.name)

    def __getattr__(self, method: str) -> Any:
        real = getattr(self._inner, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if method in self.crash_after:
                self.crash_after.discard(method)
                raise Crash(f"died after {self.name if hasattr(self._inner, 'name') else ''} {method}")
            return result

        return call


@pytest.fixture(scope="module")
def servers(
    receiver: WebhookReceiver,
) -> Iterator[tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle]]:
    options = Options(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)
    with (
        BackgroundStandIn(options) as stripe_server,
        BackgroundTempo(seed=SEED) as tempo,
        BackgroundCircle(seed=SEED) as circle,
    ):
        yield stripe_server, tempo, circle


@dataclass
class Rig:
    env: Env
    table: FaultyTable
    payments: Breakable
    providers: dict[str, Breakable]
    webhooks_fn: Any
    receiver: WebhookReceiver
    chains: dict[str, httpx.Client] = field(default_factory=dict)

    def fund(self, wallet_id: str, method: str = "pm_card_visa", key: str | None = "k1") -> Any:
        """The response, or "crashed" when the function died (the resolver turns the Crash into a 500)."""
        try:
            response = self.env.fund(wallet_id, method=method, key=key)
        except Crash:
            return "crashed"
        if response["statusCode"] == 500 and body_of(response)["code"] == "internal_error":
            return "crashed"
        return response

    def deliver(self, body: bytes, signature: str | None) -> dict[str, Any]:
        headers = {"Stripe-Signature": signature} if signature is not None else {}
        event = api_event("POST", "/webhooks/stripe", raw_body=body.decode(), principal=None, headers=headers)
        return dict(self.webhooks_fn.lambda_handler(event, FakeLambdaContext(function_name="webhooks")))

    def books(self) -> Books:
        with self.env.stripe.standin.store.lock:
            objects = {k: dict(v) for k, v in self.env.stripe.standin.store.objects.items()}
        chains = [self.env.chain(self.env.tempo), self.env.chain(self.env.circle)]
        return check_books(self.env.dynamodb, objects, chains)

    def end_wallet(self, wallet_id: str) -> None:
        """What destroy does to the wallet item, as a raw write (the destroy function is not ours)."""
        self.env.dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "META"}},
            UpdateExpression="SET #s = :d, #v = #v + :one",
            ExpressionAttributeNames={"#s": "status", "#v": "version"},
            ExpressionAttributeValues={":d": {"S": "destroyed"}, ":one": {"N": "1"}},
        )


@pytest.fixture
def rig(
    funding_env: Env,  # noqa: F811
    servers: tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle],
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> Rig:
    import functions.webhooks.handler as webhooks_fn

    receiver.reset()
    stripe_server, tempo, circle = servers
    # A short read timeout so that an injected `timeout_after` (acted, answer lost) costs little time.
    timeout = httpx.Timeout(connect=1.0, read=0.25, write=1.0, pool=2.0)
    retry = RetryPolicy(attempts=2, base_delay_s=0.005, max_delay_s=0.01)
    providers = {
        "tempo": Breakable(TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5)),
        "circle": Breakable(
            CircleProvider(
                http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
            )
        ),
    }
    table = FaultyTable(funding_env.dynamodb)
    stripe_client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    payments = Breakable(StripePaymentProcessor(stripe_client))
    wired: dict[str, Any] = dict(providers)
    creating = bootstrap.app().adapters  # wallet making as the funding environment composed it
    bootstrap.use(
        Adapters(
            creating.settings,
            kms=creating.kms,
            scheduler=creating.scheduler,
            cards=creating.cards,
            dynamodb=table,
            payments=payments,
            providers=wired,
            stripe_keys={**SECRETS, "stripe_webhook_secret": WEBHOOK_SECRET},
            clock=funding_env.clock,
        )
    )
    return Rig(funding_env, table, payments, providers, webhooks_fn, receiver)


def assert_funded_once(rig: Rig, wallet_id: str, response: Any) -> None:
    assert response != "crashed" and response["statusCode"] == 200, response
    assert body_of(response)["data"]["status"] == "funded"
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged) == (1, 1)


# -- a cancelled transaction ----------------------------------------------------------------------------


def test_a_cancelled_funding_commit_is_retried_within_the_request(rig: Rig) -> None:
    wallet_id = rig.env.wallet()
    rig.table.inject(funding_commit, "before", cancelled("TransactionConflict"))
    response = rig.fund(wallet_id)
    assert rig.table.fired == 1
    assert_funded_once(rig, wallet_id, response)


@pytest.mark.parametrize(
    ("reason", "status"),
    [("TransactionConflict", 409), ("ThrottlingError", 503)],
    ids=["conflict", "throttled"],
)
def test_a_commit_cancelled_until_the_request_gives_up_is_finished_by_the_retry(
    rig: Rig, reason: str, status: int
) -> None:
    wallet_id = rig.env.wallet()
    # Cancelled on every attempt (the ledger retries a conflict 8 times, the funding commit 3 times).
    rig.table.inject(funding_commit, "before", cancelled(reason), times=1000)
    first = rig.fund(wallet_id)
    assert first["statusCode"] == status, first["body"]
    rig.table.clear()
    # Charged and minted, not committed: the books show a charge the ledger has not taken in yet.
    assert rig.books().discrepancies != []
    assert_funded_once(rig, wallet_id, rig.fund(wallet_id))
    assert rig.env.stripe_objects().get("payment_intent") == 1


# -- a crash between any two steps ----------------------------------------------------------------------


CRASH_STEPS = ["after_charge", "after_claim", "after_mint", "before_commit", "after_commit"]


def arm(rig: Rig, step: str) -> None:
    if step == "after_charge":
        rig.payments.crash_after.add("charge")
    elif step == "after_claim":
        rig.table.inject(claim_taken, "after", lambda: Crash("died after the claim"))
    elif step == "after_mint":
        rig.providers["tempo"].crash_after.add("mint")
    elif step == "before_commit":
        rig.table.inject(funding_commit, "before", lambda: Crash("died before the commit"))
    elif step == "after_commit":
        rig.table.inject(funding_commit, "after", lambda: Crash("died after the commit"))


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_a_crash_at_each_step_of_funding_then_the_retry_funds_once(rig: Rig, step: str) -> None:
    wallet_id = rig.env.wallet()
    arm(rig, step)
    assert rig.fund(wallet_id) == "crashed"
    assert_funded_once(rig, wallet_id, rig.fund(wallet_id))
    assert rig.env.stripe_objects().get("refund", 0) == 0


UNDO_STEPS = ["before_commit", "refund_recorded", "burned", "reversal_settled", "refunded"]


@pytest.mark.parametrize("step", UNDO_STEPS)
def test_a_wallet_ended_mid_funding_is_undone_across_a_crash_at_each_step(rig: Rig, step: str) -> None:
    wallet_id = rig.env.wallet()

    def end_then(error: Exception | None) -> Callable[[], Exception]:
        def fire() -> Exception:
            rig.end_wallet(wallet_id)
            return error or cancelled("ConditionalCheckFailed")()

        return fire

    if step == "before_commit":
        rig.table.inject(funding_commit, "before", end_then(Crash("died before the commit")))
    else:
        # The wallet is destroyed just before the commit, which then loses its condition.
        rig.table.inject(funding_commit, "before", end_then(None))
        if step == "refund_recorded":
            rig.table.inject(refund_recorded, "after", lambda: Crash("died after the record"))
        elif step == "burned":
            rig.providers["tempo"].crash_after.add("burn")
        elif step == "reversal_settled":
            rig.table.inject(reversal_settled, "after", lambda: Crash("died after the reversal"))
        elif step == "refunded":
            rig.payments.crash_after.add("refund")
    assert rig.fund(wallet_id) == "crashed"
    retried = rig.fund(wallet_id)
    assert (retried["statusCode"], body_of(retried)["code"]) == (400, "invalid_state")
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (0, 1, 1)
    state = rig.env.chain(rig.env.tempo)
    assert state["supply"].get("USDC", 0) == 0
    assert sorted(op["kind"] for op in state["operations"] if op["kind"] in ("mint", "burn")) == [
        "burn",
        "mint",
    ]
    again = rig.fund(wallet_id)
    assert again["statusCode"] == 400 and rig.books().refunds == 1


# -- a seeded storm ------------------------------------------------------------------------------------


# A few hundred operations (about 15 s with local/runtime/moto_transactions.py; moto's own transactions copy
# the whole table per item and took minutes). FUNDING_STORM_OPERATIONS / _WALLETS size it otherwise.
WALLETS = int(os.environ.get("FUNDING_STORM_WALLETS", "40"))
OPERATIONS = int(os.environ.get("FUNDING_STORM_OPERATIONS", "300"))


@pytest.mark.parametrize("webhooks", [True, False], ids=["redelivered", "sweeper_only"])
def test_a_seeded_storm_of_concurrent_operations_under_faults_leaves_the_books_exact(
    rig: Rig, webhooks: bool
) -> None:
    """With `webhooks` off, Stripe's events are never delivered and clients never retry: the sweeper alone
    finishes every claim the storm left open."""
    rng = random.Random(SEED)
    env = rig.env
    # Eight threads funding at once may pass the default 25 money calls a second on a fast machine: the storm
    # is about faults, so its tenant is allowed more.
    set_tenant_limits(env.dynamodb, "tenant-a", tenant_money_per_second=1000, tenant_per_second=1000)
    wallets = [env.wallet() for _ in range(WALLETS)]
    for client, share in ((env.tempo, 0.3), (env.circle, 0.3)):
        client.post("/_control/reset", json={"seed": SEED})
        client.post("/_control/fail", json={"mode": "error", "status": 503, "probability": share})
        client.post(
            "/_control/fail",
            json={"mode": "timeout_after", "probability": share / 3, "hang_seconds": 0.3, "path": "/v1"},
        )
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    retry_later: list[tuple[str, str, str]] = []

    def note(kind: str, response: Any, request: tuple[str, str, str] | None = None) -> None:
        status = "crashed" if response == "crashed" else response["statusCode"]
        with lock:
            outcomes[f"{kind}:{status}"] += 1
            if request is not None and (status == "crashed" or int(status) >= 500 or status == 409):
                retry_later.append(request)

    def fund(wallet_id: str, method: str, key: str) -> None:
        note(f"fund[{method}]", rig.fund(wallet_id, method, key), (wallet_id, method, key))

    def deliver(count: int) -> None:
        if not webhooks:
            return
        # A webhook delivery picked from what Stripe sent so far, possibly one delivered already.
        received = _payment_events(rig.receiver)
        for item in rng.sample(received, min(count, len(received))):
            note("webhook", rig.deliver(item.body, item.signature))

    def stripe_fault() -> None:
        control(env.stripe, "POST", "/_control/fail", {"path": "/v1/refunds", "count": 1, "status": 500})
        with lock:
            outcomes["stripe_fault_injected"] += 1

    plan: list[Callable[[], None]] = []
    for n in range(OPERATIONS):
        wallet_id = rng.choice(wallets)
        roll = rng.random()
        if roll < 0.45:
            method = "pm_card_visa"
        elif roll < 0.55:
            method = "pm_card_chargeDeclined"
        elif roll < 0.65:
            method = "pm_usBankAccount"
        elif roll < 0.85:
            plan.append(lambda: deliver(2))
            continue
        elif roll < 0.88:
            plan.append(stripe_fault)
            continue
        else:
            # Two requests with different keys for the same wallet at once: one funds, the other refunds.
            key_a, key_b = f"op-{n}-a", f"op-{n}-b"
            plan.append(lambda w=wallet_id, a=key_a: fund(w, "pm_card_visa", a))
            plan.append(lambda w=wallet_id, b=key_b: fund(w, "pm_card_visa", b))
            continue
        plan.append(lambda w=wallet_id, m=method, k=f"op-{n}": fund(w, m, k))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(step) for step in plan]:
            future.result()
    # The bank settles every processing payment; the faults stop; clients retry what failed (as they do on
    # 5xx and 409) and Stripe's deliveries are replayed once more, in order.
    for intent in [o for o in env.stripe.standin.store.objects.values() if o.get("status") == "processing"]:
        control(env.stripe, "POST", f"/_control/payment_intents/{intent['id']}/complete", {})
    for client in (env.tempo, env.circle):
        faults = client.get("/_control/state").json()["faults"]
        outcomes["provider_faults_fired"] += int(faults["fired"])
        client.post("/_control/clear_faults")
    # Stripe's queued refund failures stop too (some may not have fired yet).
    env.stripe.standin.faults.reset()
    phases = {"storm": time.perf_counter() - started}
    # The breakers opened by the faults stay open until their cooldown passes on the (fixed) clock.
    env.clock.advance(minutes=10)
    _wait_for_deliveries(env)
    for _ in range(3 if webhooks else 0):
        pending, retry_later[:] = list(retry_later), []
        for wallet_id, method, key in pending:
            note("retry", rig.fund(wallet_id, method, key), (wallet_id, method, key))
        # As Stripe does, an event whose delivery failed is delivered again in the next round.
        failed_deliveries = 0
        for item in _payment_events(rig.receiver):
            answer = rig.deliver(item.body, item.signature)
            note("redelivery", answer)
            failed_deliveries += answer["statusCode"] >= 500
        if not retry_later and not failed_deliveries:
            break
    books_before_sweeps = rig.books() if webhooks else None
    # The sweeper runs in both: after redeliveries it only closes what the webhooks already settled (the
    # watched bank payments); without them it finishes everything. Every claim is past its deadline (and
    # every breaker past its cooldown) at each run.
    sweeps = 0
    for sweeps in range(1, 6):  # noqa: B007  (the count is reported)
        env.clock.advance(minutes=20)
        report = _sweep()
        for outcome, count in report["outcomes"].items():
            outcomes[f"sweep:{outcome}"] += count
        if report["due"] == 0:
            break
    phases["settle"] = time.perf_counter() - started - phases["storm"]
    elapsed = time.perf_counter() - started
    books = rig.books()
    figures = {
        "operations": len(plan),
        "retries": sum(n for name, n in outcomes.items() if name.startswith("retry:")),
        "faults_injected": outcomes["provider_faults_fired"] + outcomes["stripe_fault_injected"],
        "journals": books.journals,
        "intents_charged": books.intents_charged,
        "refunds": books.refunds,
        "wallets_checked": books.wallets_checked,
        "discrepancies": len(books.discrepancies),
        "sweeps": sweeps,
        "open_claims": len(_open_claims(env)),
        "seconds": round(elapsed, 1),
        "phases": {k: round(v, 1) for k, v in phases.items()},
    }
    print("\nfault injection:", json.dumps(figures), "\noutcomes:", dict(sorted(outcomes.items())))
    print("discrepancies:", books.discrepancies)
    assert books.discrepancies == []
    assert figures["faults_injected"] > 0 and books.refunds > 0 and books.journals > 0
    # Every wallet funded at most once: one journal per funded wallet.
    assert books.journals <= WALLETS
    # No claim left open: none in the index, none minting, no refund or reversal outstanding.
    assert figures["open_claims"] == 0
    assert _unsettled(env) == []
    if books_before_sweeps is not None:
        assert books_before_sweeps.discrepancies == []
    else:
        assert outcomes["webhook:200"] == 0 and figures["retries"] == 0
        assert sum(n for name, n in outcomes.items() if name.startswith("sweep:")) > 0


def _sweep() -> dict[str, Any]:
    import functions.sweeper.handler as sweeper_fn

    event = {"detail-type": "Scheduled Event", "source": "aws.events"}
    return dict(sweeper_fn.lambda_handler(event, FakeLambdaContext(function_name="sweeper")))


def _open_claims(env: Env) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for shard in range(4):
        page = env.dynamodb.query(
            TableName=TABLE,
            IndexName="gsi3",
            KeyConditionExpression="gsi3pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CLAIMDUE#{shard}"}},
        )
        items.extend(page["Items"])
    return items


def _unsettled(env: Env) -> list[str]:
    """Claims still minting, refunds not issued and reversals pending, read from the table itself."""
    left = []
    for item in map(plain, scan_all(env.dynamodb)):
        if item.get("entity") == "wallet_funding" and item.get("state") == "minting":
            left.append(f"{item['wallet_id']}: claim minting")
        if item.get("entity") == "funding_refund" and (
            not item.get("refund_id") or item.get("reversal") == "pending"
        ):
            left.append(f"{item['wallet_id']}: refund {item['intent_id']} outstanding")
    return left


def _payment_events(receiver: WebhookReceiver) -> list[Any]:
    """The events funding acts on (the rest are recorded and ignored, which costs time and proves nothing)."""
    return [
        item
        for item in list(receiver.received)
        if json.loads(item.body)["type"] in ("payment_intent.succeeded", "payment_intent.payment_failed")
    ]


def _wait_for_deliveries(env: Env) -> None:
    """Until Stripe has no delivery pending (its worker posts them one by one to the receiver)."""
    settled = threading.Event()
    for _ in range(600):
        deliveries = control(env.stripe, "GET", "/_control/webhooks")["deliveries"]
        if all(d["status"] != "pending" for d in deliveries):
            return
        settled.wait(0.05)
    raise AssertionError("Stripe's webhook deliveries did not settle")
