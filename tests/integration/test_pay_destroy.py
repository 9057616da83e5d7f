"""The pay and destroy functions on moto with the Stripe, Tempo and Circle stand-ins live: paying, the three
destruction triggers, refunds of what remains, and destruction resumed after a failure at every step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest

from shared import bootstrap
from shared.adapters.dynamodb_destruction import DynamoDBDestructionStore
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.auth import Principal
from shared.bootstrap import Adapters, Capabilities
from shared.config import Settings
from shared.destruction.log import facts_of, verify
from shared.errors import DependencyUnavailable, WalletsError
from shared.ledger.accounts import Account
from shared.providers.errors import ProviderRejected
from tests.integration import test_funding_api as funding_fixtures
from tests.integration.conftest import (
    CONSUMER,
    KEY_TABLE,
    MERCHANT,
    OTHER_MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
)
from tests.integration.test_funding_api import STRIPE_KEY, Env, items
from tests.integration.test_ledger_concurrency import AtomicCallsClient

DESTROY_CONTEXT = FakeLambdaContext(function_name="destroy")
# The funding tests' fixtures: moto, the stand-ins served in-process and the create/fund functions.
servers = funding_fixtures.servers
env = funding_fixtures.env


class Boom(DependencyUnavailable):
    """An injected outage of one outside call."""


class FailingOnce:
    """Wraps an adapter; the method named `fail_on` raises once (an outage at that step), then works."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.fail_on: str | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self.fail_on:
            return attribute

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.fail_on = None
            raise Boom(f"injected failure of {name}")

        return failing


@dataclass
class Paying:
    env: Env
    pay_fn: ModuleType
    destroy_fn: ModuleType
    payments: FailingOnce
    cards: FailingOnce
    scheduler: FailingOnce
    settings: Settings
    common: dict[str, Any]

    def pay(
        self, wallet_id: str, body: dict[str, Any] | None = None, principal: dict[str, str] = MERCHANT
    ) -> dict[str, Any]:
        event = api_event(
            "POST", f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice", body=body or {}, principal=principal
        )
        return dict(self.pay_fn.lambda_handler(event, FakeLambdaContext(function_name="pay")))

    def schedule_fires(self, wallet_id: str) -> dict[str, Any]:
        event = {"wallet_id": wallet_id, "trigger": "schedule"}
        return dict(self.destroy_fn.lambda_handler(event, DESTROY_CONTEXT))

    def lease_expires(self, wallet_id: str, by_ttl: bool = True) -> dict[str, Any]:
        return dict(
            self.destroy_fn.lambda_handler({"Records": [lease_removal(wallet_id, by_ttl)]}, DESTROY_CONTEXT)
        )

    def wallet(self, wallet_id: str) -> dict[str, Any]:
        (meta,) = [i for i in items(self.env, f"WALLET#{wallet_id}") if i["sk"]["S"] == "META"]
        return meta

    def funded_wallet(self, ttl: int = 3600) -> str:
        wallet_id = self.env.wallet(ttl=ttl)
        assert self.env.fund(wallet_id)["statusCode"] == 200
        return wallet_id


def lease_removal(wallet_id: str, by_ttl: bool) -> dict[str, Any]:
    """A stream record of the lease's REMOVE as Lambda receives it (TTL's carries userIdentity)."""
    record: dict[str, Any] = {
        "eventID": f"evt-{wallet_id}",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": f"LEASE#{wallet_id}"}, "sk": {"S": "LEASE"}},
            "OldImage": {
                "pk": {"S": f"LEASE#{wallet_id}"},
                "sk": {"S": "LEASE"},
                "wallet_id": {"S": wallet_id},
                "tenant_id": {"S": "tenant-a"},
            },
            "SequenceNumber": "100",
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/wallets/stream/2030",
    }
    if by_ttl:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


@pytest.fixture
def paying(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paying]:
    import functions.destroy.handler as destroy_fn
    import functions.pay.handler as pay_fn

    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": bootstrap.app().adapters.settings.kms_key_id,
            "SCHEDULE_GROUP_NAME": "wallets-schedules",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
            "SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:schedule-dlq",
            "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
            "PUBLIC_BASE_URL": "https://pay.example",
            "POWERTOOLS_SERVICE_NAME": "pay",
        }
    )
    stripe_client = build_stripe_client(STRIPE_KEY, env.stripe.base_url, max_network_retries=0)
    payments = FailingOnce(StripePaymentProcessor(stripe_client))
    cards = FailingOnce(StripeCardIssuer(stripe_client))
    scheduler = FailingOnce(boto3.client("scheduler", region_name="us-east-1"))
    funding = bootstrap.app().adapters  # as the funding environment composed it
    providers = dict(funding.providers)  # the same stand-in adapters funding minted with
    common: dict[str, Any] = {
        "kms": funding.kms,
        "dynamodb": env.dynamodb,
        "scheduler": scheduler,
        "payments": payments,
        "cards": cards,
        "providers": providers,
        "stripe_keys": {"stripe_secret_key": STRIPE_KEY},
        "payment_link_secret": "integration-link-secret",
        "clock": env.clock,
    }
    bootstrap.use(Adapters(settings, **common))
    yield Paying(env, pay_fn, destroy_fn, payments, cards, scheduler, settings, common)


def ledger_balanced(env: Env) -> None:
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    totals = ledger.totals()
    for asset_totals in totals.values():
        assert asset_totals.credits == asset_totals.debits
    supply = ledger.balance(Account.supply("USDC"))
    reserve = ledger.balance(Account.reserve("USD"))
    assert supply == reserve * 10_000, (supply, reserve)


def sealed_keys_item(env: Env, wallet_id: str) -> dict[str, Any] | None:
    key = {"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "KEYS"}}
    item: dict[str, Any] | None = env.dynamodb.get_item(
        TableName=KEY_TABLE, Key=key, ConsistentRead=True
    ).get("Item")
    return item


def destroyed_completely(paying: Paying, wallet_id: str) -> dict[str, Any]:
    env = paying.env
    meta = paying.wallet(wallet_id)
    assert meta["status"]["S"] == "destroyed"
    assert "gsi2pk" not in meta
    # The sealed keys live in the key table only (no stream, no PITR), and their wrapped data key is gone.
    assert [i for i in items(env, f"WALLET#{wallet_id}") if i["sk"]["S"] == "KEYS"] == []
    keys = sealed_keys_item(env, wallet_id)
    assert keys is not None and "wrapped_key" not in keys and "erased_at" in keys
    assert keys["ciphertext"]["B"]
    assert items(env, f"LEASE#{wallet_id}") == []
    card_id = meta["card_id"]["S"]
    assert (
        StripeCardIssuer(build_stripe_client(STRIPE_KEY, env.stripe.base_url)).get_card(card_id).status
        == "canceled"
    )
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    assert f"destroy-{wallet_id}" not in [
        s["Name"] for s in scheduler.list_schedules(GroupName="wallets-schedules")["Schedules"]
    ]
    log = DynamoDBDestructionStore(env.dynamodb, TABLE, key_table_name=KEY_TABLE).destruction_log(wallet_id)
    assert log is not None and verify(log)
    facts = facts_of(log)
    assert facts["method"] == "crypto_erase" and facts["erased"]["material"]
    destroyed_events = [i for i in items(env, "OUTBOX#") if i["event_name"]["S"] == "wallet:destroyed"]
    assert [e["data"]["M"]["wallet_id"]["S"] for e in destroyed_events].count(wallet_id) == 1
    assert DynamoDBLedger(env.dynamodb, TABLE).balance(Account.wallet(wallet_id, "USDC")) == 0
    ledger_balanced(env)
    return facts


def refunds(env: Env) -> int:
    return int(env.stripe_objects().get("refund", 0))


# -- paying -----------------------------------------------------------------------------------------------


def test_pay_transfers_to_settlement_marks_paid_and_destroys_the_ephemeral_wallet(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet()
    response = paying.pay(wallet_id)
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert (data["invoice_status"], data["wallet_status"], data["amount"]) == ("paid", "destroyed", "251.00")
    assert data["transaction_hash"]
    facts = destroyed_completely(paying, wallet_id)
    assert facts["reason"] == "paid" and facts["balance_before"] == "0.00"
    assert [m["kind"] for m in facts["final_movements"]] == ["pay"]
    assert refunds(env) == 0
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == 251_000_000
    invoice = next(i for i in items(env, "TENANT#tenant-a") if i["sk"]["S"].startswith("INVOICE#"))
    assert (invoice["status"]["S"], Decimal(invoice["amount_paid"]["N"])) == ("paid", Decimal("251.00"))
    names = [i["event_name"]["S"] for i in items(env, "OUTBOX#")]
    assert {"payment:complete", "invoice.paid", "wallet:destroyed"} <= set(names)
    chain = env.chain(env.tempo)
    held = {a.lower(): v for a, v in chain["balances"].items()}
    assert held[paying.wallet(wallet_id)["evm_address"]["S"].lower()].get("USDC", 0) == 0
    # Paying again is refused and moves nothing.
    again = paying.pay(wallet_id)
    assert (again["statusCode"], body_of(again)["code"]) == (400, "invalid_state")


def test_a_partial_payment_then_expiry_refunds_exactly_the_rest_once(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=600)
    response = paying.pay(wallet_id, {"amount": "100.00"})
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert (data["invoice_status"], data["wallet_status"], data["wallet_balance"]) == (
        "partially_paid",
        "funded",
        "151.00",
    )
    env.clock.advance(seconds=601)
    late = paying.pay(wallet_id, {"amount": "10.00"})
    assert (late["statusCode"], body_of(late)["code"]) == (400, "invalid_state")
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    facts = destroyed_completely(paying, wallet_id)
    assert facts["reason"] == "expired" and facts["balance_before"] == "151.00"
    assert [m["kind"] for m in facts["final_movements"]] == ["pay", "refund"]
    assert refunds(env) == 1
    # The TTL trigger arriving later finds it done: no second refund, no second event.
    assert paying.lease_expires(wallet_id) == {"batchItemFailures": []}
    assert refunds(env) == 1
    destroyed_completely(paying, wallet_id)


def test_short_balance_other_tenant_and_bad_amounts(paying: Paying) -> None:
    wallet_id = paying.env.wallet()
    short = paying.pay(wallet_id)
    assert (short["statusCode"], body_of(short)["code"]) == (400, "insufficient_balance")
    assert paying.env.fund(wallet_id)["statusCode"] == 200
    stranger = paying.pay(wallet_id, principal=OTHER_MERCHANT)
    assert (stranger["statusCode"], body_of(stranger)["code"]) == (404, "not_found")
    too_much = paying.pay(wallet_id, {"amount": "251.01"})
    assert (too_much["statusCode"], body_of(too_much)["code"]) == (400, "validation_error")
    fractional = paying.pay(wallet_id, {"amount": "1.001"})
    assert (fractional["statusCode"], body_of(fractional)["code"]) == (400, "validation_error")
    assert items(paying.env, "LEDGER#JOURNAL#") and len(items(paying.env, "LEDGER#JOURNAL#")) == 1
    # The payer (the invoice's customer) may pay.
    assert paying.pay(wallet_id, principal=CONSUMER)["statusCode"] == 200


def test_twenty_concurrent_pays_transfer_once(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet()
    # Each DynamoDB call atomic as in the real service; the pays interleave freely between calls.
    atomic = {**paying.common, "dynamodb": AtomicCallsClient(env.dynamodb)}
    # The threads call the pay service itself: Lambda runs one invocation per process, and the handler's
    # module-level Powertools Metrics is not made to be flushed by twenty threads at once.
    service = Capabilities(Adapters(paying.settings, **atomic)).settlement.pay_invoice
    payer = Principal(MERCHANT["sub"], MERCHANT["tenant_id"], frozenset({"merchant"}))

    def attempt(_: int) -> tuple[int, str]:
        try:
            service.pay(payer, wallet_id, None)
        except WalletsError as refused:
            return refused.status, refused.message
        return 200, "paid"

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(attempt, range(20)))
    codes = sorted(code for code, _ in answers)
    # Losers see the invoice paid (400), the payment in progress (409), or a provider call that timed out
    # under the load (503, the payment stays in flight); none of them moves money a second time.
    assert 200 in codes and set(codes) <= {200, 400, 409, 503}, [a for a in answers if a[0] != 200]
    if paying.wallet(wallet_id)["status"]["S"] != "destroyed":
        paying.pay(wallet_id)  # finishes what a timed-out caller left in flight
    pay_journals = [i for i in items(env, "LEDGER#JOURNAL#") if i["kind"]["S"] == "pay"]
    assert len(pay_journals) == 1
    transfers = [op for op in env.chain(env.tempo)["operations"] if op["kind"] == "transfer"]
    assert len(transfers) == 1, transfers
    destroyed_completely(paying, wallet_id)


# -- the three triggers ---------------------------------------------------------------------------------


def test_an_unpaid_funded_wallet_expires_by_schedule_and_is_refunded_in_full(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    early = paying.schedule_fires(wallet_id)
    assert early["result"] == "not_due"
    env.clock.advance(seconds=60)
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    facts = destroyed_completely(paying, wallet_id)
    assert (facts["reason"], facts["trigger"], facts["balance_before"]) == ("expired", "schedule", "251.00")
    assert refunds(env) == 1
    names = [i["event_name"]["S"] for i in items(env, "OUTBOX#")]
    assert names.count("wallet.expired") == 1
    assert paying.schedule_fires(wallet_id)["result"] == "already_destroyed"


def test_the_ttl_path_alone_destroys_and_a_user_delete_is_ignored(paying: Paying) -> None:
    env = paying.env
    wallet_id = env.wallet(ttl=60)
    env.clock.advance(seconds=61)
    assert paying.lease_expires(wallet_id, by_ttl=False) == {"batchItemFailures": []}
    assert paying.wallet(wallet_id)["status"]["S"] == "active"
    assert paying.lease_expires(wallet_id) == {"batchItemFailures": []}
    facts = destroyed_completely(paying, wallet_id)
    assert (facts["trigger"], facts["balance_before"]) == ("ttl", "0.00")
    assert refunds(env) == 0


def test_a_transformed_wallet_is_never_destroyed_by_a_stale_trigger(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    event = api_event("POST", f"/api/v2/invoice-wallets/{wallet_id}/transform")
    assert (
        env.create_fn.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))["statusCode"]
        == 200
    )
    env.clock.advance(seconds=120)
    assert paying.schedule_fires(wallet_id)["result"] == "not_ephemeral"
    assert paying.lease_expires(wallet_id) == {"batchItemFailures": []}
    assert paying.wallet(wallet_id)["status"]["S"] == "funded"
    # A persistent wallet stays after paying.
    response = paying.pay(wallet_id)
    assert body_of(response)["data"]["wallet_status"] == "payment_complete"


def test_a_bad_stream_record_is_reported_not_lost(paying: Paying) -> None:
    wallet_id = paying.funded_wallet(ttl=60)
    paying.env.clock.advance(seconds=61)
    paying.env.tempo.post("/_control/down")
    try:
        answer = paying.lease_expires(wallet_id)
    finally:
        paying.env.tempo.post("/_control/up")
    assert answer == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    assert paying.lease_expires(wallet_id) == {"batchItemFailures": []}
    destroyed_completely(paying, wallet_id)


# -- failure at every step, then a retry -----------------------------------------------------------------

STEPS: list[tuple[str, Callable[[Paying], None], Callable[[Paying], None]]] = [
    ("burn", lambda p: p.env.tempo.post("/_control/down"), lambda p: p.env.tempo.post("/_control/up")),
    ("refund", lambda p: setattr(p.payments, "fail_on", "refund"), lambda p: None),
    ("card", lambda p: setattr(p.cards, "fail_on", "deactivate_card"), lambda p: None),
    ("schedule", lambda p: setattr(p.scheduler, "fail_on", "delete_schedule"), lambda p: None),
]


@pytest.mark.parametrize(("step", "fail", "heal"), STEPS, ids=[s[0] for s in STEPS])
def test_destruction_failing_at_a_step_resumes_with_one_refund(
    paying: Paying, step: str, fail: Callable[[Paying], None], heal: Callable[[Paying], None]
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    env.clock.advance(seconds=61)
    fail(paying)
    with pytest.raises(Exception):
        paying.schedule_fires(wallet_id)
    heal(paying)
    assert paying.wallet(wallet_id)["status"]["S"] == "expired"
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    destroyed_completely(paying, wallet_id)
    assert refunds(env) == 1


def test_a_crash_after_the_refund_before_the_ledger_resumes_without_refunding_again(
    paying: Paying, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    env.clock.advance(seconds=61)
    store = bootstrap.app().settlement.destruction._store
    original = store.forward

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Boom("the process died before the journal")

    monkeypatch.setattr(store, "forward", crash)
    with pytest.raises(Boom):
        paying.schedule_fires(wallet_id)
    assert refunds(env) == 1
    monkeypatch.setattr(store, "forward", original)
    # The resumed run looks for the refund it made (Stripe forgets keys after 24 hours) before refunding.
    assert paying.lease_expires(wallet_id) == {"batchItemFailures": []}
    assert refunds(env) == 1
    destroyed_completely(paying, wallet_id)


def test_the_payer_is_refunded_what_the_reserve_holds_for_the_wallet(paying: Paying) -> None:
    env = paying.env
    wallets = DynamoDBWalletRepository(env.dynamodb, TABLE, key_table_name=KEY_TABLE)
    wallet_id = paying.funded_wallet(ttl=60)
    assert wallets.get(wallet_id) is not None
    env.clock.advance(seconds=60)
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.reserve("USD")) == 0
    assert ledger.balance(Account.supply("USDC")) == 0
    assert env.chain(env.tempo)["supply"].get("USDC", 0) == 0


@pytest.mark.parametrize("step", ["begin", "forward", "finish"])
def test_destruction_crashing_at_each_of_its_own_writes_resumes(
    paying: Paying, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    env.clock.advance(seconds=61)
    store = bootstrap.app().settlement.destruction._store
    original = getattr(store, step)
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Boom(f"the process died in {step}")
        return original(*args, **kwargs)

    monkeypatch.setattr(store, step, crash_once)
    with pytest.raises(Boom):
        paying.schedule_fires(wallet_id)
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    destroyed_completely(paying, wallet_id)
    assert refunds(env) == 1


def test_a_payment_interrupted_after_its_transfer_is_finished_by_a_retry_once(
    paying: Paying, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet()
    store = bootstrap.app().settlement.payments._store
    original = store.commit

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Boom("the process died after the transfer")

    monkeypatch.setattr(store, "commit", crash)
    crashed = paying.pay(wallet_id, {"amount": "51.00"})
    assert crashed["statusCode"] == 503
    monkeypatch.setattr(store, "commit", original)
    # Other terms wait for the payment in flight; the same terms finish it.
    assert paying.pay(wallet_id, {"amount": "60.00"})["statusCode"] == 409
    finished = paying.pay(wallet_id, {"amount": "51.00"})
    assert finished["statusCode"] == 200, finished["body"]
    assert body_of(finished)["data"]["wallet_balance"] == "200.00"
    pay_journals = [i for i in items(env, "LEDGER#JOURNAL#") if i["kind"]["S"] == "pay"]
    assert len(pay_journals) == 1
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == 51_000_000


def test_destruction_lands_an_in_flight_payment_before_refunding_the_rest(
    paying: Paying, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=600)
    store = bootstrap.app().settlement.payments._store

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Boom("the process died after the transfer")

    with monkeypatch.context() as dying:  # only the pay process dies; destroy runs in its own
        dying.setattr(store, "commit", crash)
        assert paying.pay(wallet_id, {"amount": "51.00"})["statusCode"] == 503
    env.clock.advance(seconds=601)
    # The payer acted in time: destroy lands that payment, then refunds only what is left.
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    facts = destroyed_completely(paying, wallet_id)
    assert facts["balance_before"] == "200.00"
    assert [m["kind"] for m in facts["final_movements"]] == ["pay", "refund"]
    assert refunds(env) == 1
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == 51_000_000
    assert ledger.balance(Account.reserve("USD")) == 5100


def test_a_destruction_failing_after_the_payment_is_retried_within_a_minute(paying: Paying) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=86_400)
    paying.cards.fail_on = "deactivate_card"
    response = paying.pay(wallet_id)
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert (data["invoice_status"], data["wallet_status"]) == ("paid", "destroying")
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    schedule = scheduler.get_schedule(Name=f"destroy-{wallet_id}", GroupName="wallets-schedules")
    assert schedule["ScheduleExpression"] == "at(2030-01-01T12:01:00)"  # a minute after the payment
    env.clock.advance(seconds=60)
    assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    destroyed_completely(paying, wallet_id)


def test_destruction_releases_an_in_flight_payment_the_provider_refuses(
    paying: Paying, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = paying.env
    wallet_id = paying.funded_wallet(ttl=600)
    pay_router = bootstrap.app().settlement.payments._router
    original_call = pay_router.call
    calls = {"n": 0}

    def dies_before_the_transfer(provider: Any, operation: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # 1: the settlement address; 2: the transfer
            raise Boom("the process died before the transfer")
        return original_call(provider, operation)

    with monkeypatch.context() as dying:  # only the pay process dies; destroy runs in its own
        dying.setattr(pay_router, "call", dies_before_the_transfer)
        assert paying.pay(wallet_id, {"amount": "51.00"})["statusCode"] == 503
    env.clock.advance(seconds=601)
    tempo = bootstrap.app().adapters.providers["tempo"]
    original_transfer = tempo.transfer

    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise ProviderRejected("tempo", "insufficient_balance", "not enough tokens at the source", 400)

    monkeypatch.setattr(tempo, "transfer", refuses)
    try:
        assert paying.schedule_fires(wallet_id)["result"] == "destroyed"
    finally:
        monkeypatch.setattr(tempo, "transfer", original_transfer)
    facts = destroyed_completely(paying, wallet_id)
    assert facts["balance_before"] == "251.00" and [m["kind"] for m in facts["final_movements"]] == ["refund"]
    assert refunds(env) == 1
    assert DynamoDBLedger(env.dynamodb, TABLE).balance(Account.settlement("tenant-a", "USDC")) == 0
