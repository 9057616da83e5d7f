"""Paying and destruction through the local runtime on a virtual clock: pay destroys at once with nothing
to refund; an unpaid wallet dies on its second through its Scheduler `at()` schedule, and through the
lease's TTL alone when the schedule is gone; a partial payment's rest is refunded once; a transform
cancels destruction; WebSocket followers of the countdown see `wallet.expired` and `wallet:destroyed`.

SPEED: 2 virtual seconds must hold a warm destroy invocation (0.1-0.3 s of real time on a loaded 2-core
machine) plus the trigger's own lag. At speed 20 that budget is 0.1 s real, under one invocation, so the
assertion would measure the machine rather than the trigger. At speed 5 (0.4 s real) a run beside another
test file on 2 cores measured 3.1 virtual seconds; speed 2 gives the invocation 1 s of real time and a 60 s
TTL passes in 30 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from shared.destruction.log import facts_of, verify
from shared.destruction.ports import DestructionLog
from tests.e2e.conftest import RunningRuntime, wait_for
from tests.e2e.system import auth, create_invoice, project_system

pytestmark = pytest.mark.e2e

SPEED = 2.0
TTL = 60
# The schedule path must finish destruction within this many virtual seconds of expires_at.
SCHEDULE_BUDGET = 2.0
# The TTL path is the backstop and its delay is measured and reported, not held to the schedule's budget:
# it adds the stream poll and the destroy mapping's MaximumBatchingWindowInSeconds (1 virtual second) to
# the same work, and on a loaded machine it has taken 2-12 virtual seconds. This bound only says the
# backstop still fires within moments rather than whenever the sweeper gets around to it.
TTL_BOUND = 30.0
# How far past the old expiry a transformed wallet is checked: beyond both triggers' usual delays.
PAST_EXPIRY = 10.0
WALLETS = "/api/v2/invoice-wallets"
STRIPE_KEY = "sk_test_local"
# A destroy trigger for a wallet that never existed: warms the destroy function (its first invocation
# composes its adapters, seconds of real time, which the speed factor would turn into a minute).
NO_WALLET = "wal_" + "0" * 24


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("destruction"), speed=SPEED) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


# -- helpers ---------------------------------------------------------------------------------------------
def virtual_now(system: RunningRuntime) -> float:
    origin, speed = float(system.state["clock_origin"]), float(system.state["speed"])
    return origin + (time.time() - origin) * speed


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def sleep_until_virtual(system: RunningRuntime, instant: float) -> None:
    remaining = (instant - virtual_now(system)) / SPEED
    if remaining > 0:
        time.sleep(remaining)


def merchant(system: RunningRuntime) -> dict[str, str]:
    return auth(system.tokens["merchant"])


def ephemeral_wallet(system: RunningRuntime, http: httpx.Client, unit_price: str = "50.00") -> dict[str, Any]:
    invoice = create_invoice(
        http,
        system.tokens["merchant"],
        line_items=[{"description": "Destruction e2e", "quantity": 1, "unit_price": unit_price}],
    )
    assert invoice.status_code == 201, invoice.text
    answer = http.post(
        f"{WALLETS}/create-from-invoice",
        json={
            "invoice_id": invoice.json()["data"]["invoice"]["id"],
            "ttl": TTL,
            "mode_override": "ephemeral",
        },
        headers=merchant(system),
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["wallet"])


def fund(system: RunningRuntime, http: httpx.Client, wallet_id: str) -> dict[str, Any]:
    answer = http.post(
        f"{WALLETS}/{wallet_id}/fund", json={"payment_method": "pm_card_visa"}, headers=merchant(system)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def pay(system: RunningRuntime, http: httpx.Client, wallet_id: str, **body: Any) -> dict[str, Any]:
    answer = http.post(f"{WALLETS}/{wallet_id}/pay-invoice", json=body, headers=merchant(system))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def wallet_of(system: RunningRuntime, http: httpx.Client, wallet_id: str) -> dict[str, Any]:
    answer = http.get(f"{WALLETS}/{wallet_id}", headers=merchant(system))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["wallet"])


def table_name(system: RunningRuntime) -> str:
    return next(n for n in system.aws("dynamodb").list_tables()["TableNames"] if "WalletsTable" in n)


def sealed_keys(system: RunningRuntime, wallet_id: str) -> dict[str, Any] | None:
    """The wallet's KEYS item in the key table (the runtime built it from the template's WalletKeysTable)."""
    client = system.aws("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "WalletKeysTable" in n)
    key = {"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "KEYS"}}
    item: dict[str, Any] | None = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return item


def destruction_log(system: RunningRuntime, wallet_id: str) -> dict[str, Any] | None:
    item = (
        system.aws("dynamodb")
        .get_item(
            TableName=table_name(system),
            Key={"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "DESTRUCTIONLOG"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        return None
    log = DestructionLog(wallet_id, item["record"]["S"], item["verification_hash"]["S"])
    assert verify(log), "the destruction log does not verify"
    return facts_of(log)


def await_destruction(system: RunningRuntime, wallet: dict[str, Any]) -> dict[str, Any]:
    """The wallet's destruction log, waiting until a few virtual seconds past its expiry at most."""
    sleep_until_virtual(system, epoch(wallet["expires_at"]))
    facts = wait_for(lambda: destruction_log(system, wallet["wallet_id"]), timeout=30 / SPEED + 5)
    return dict(facts)


def delay_of(facts: dict[str, Any]) -> float:
    """Virtual seconds from expires_at to destroyed (both stamped by the system's own clock)."""
    return epoch(facts["destroyed_at"]) - epoch(facts["expires_at"])


def refunds_of(system: RunningRuntime, intent_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{system.state['services']['stripe']}/v1/refunds",
        params={"payment_intent": intent_id},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def scheduler_group(system: RunningRuntime) -> str:
    """The stack's schedule group (SCHEDULE_GROUP_NAME); the only one besides moto's `default`."""
    groups = [g["Name"] for g in system.aws("scheduler").list_schedule_groups()["ScheduleGroups"]]
    (group,) = [g for g in groups if g != "default"]
    return group


def schedule_names(system: RunningRuntime, group: str) -> set[str]:
    pages = system.aws("scheduler").get_paginator("list_schedules").paginate(GroupName=group)
    return {s["Name"] for page in pages for s in page["Schedules"]}


def receive(socket: ClientConnection, event: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("event") == event:
            return dict(message)


# -- the wallets that expire, made together so their waits overlap --------------------------------------
@dataclass
class Cohort:
    scheduled: dict[str, Any]
    socket: ClientConnection
    ttl_only: dict[str, Any]
    partial: dict[str, Any]
    partial_intent: str
    partial_paid: dict[str, Any]
    transformed: dict[str, Any]


def warm_destroy(system: RunningRuntime, group: str, wallet_id: str) -> None:
    """Fire the destroy function once through a schedule like the wallet's, for a wallet that never was."""
    scheduler = system.aws("scheduler")
    target = dict(scheduler.get_schedule(Name=f"destroy-{wallet_id}", GroupName=group)["Target"])
    target["Input"] = json.dumps({"wallet_id": NO_WALLET, "trigger": "schedule"})
    scheduler.create_schedule(
        Name="warm-destroy",
        GroupName=group,
        ScheduleExpression=f"at({datetime.fromtimestamp(virtual_now(system), UTC):%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target=target,
    )
    wait_for(lambda: NO_WALLET in system.log() and '"result":"not_found"' in system.log(), timeout=30)


@pytest.fixture(scope="module")
def cohort(system: RunningRuntime, http: httpx.Client) -> Iterator[Cohort]:
    group = scheduler_group(system)
    scheduled = ephemeral_wallet(system, http)
    with connect(f"{system.ws_url}?token={system.tokens['merchant']}", open_timeout=20) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": f"countdown:{scheduled['wallet_id']}"}))
        assert receive(socket, "countdown:update")["data"]["walletId"] == scheduled["wallet_id"]
        warm_destroy(system, group, scheduled["wallet_id"])

        ttl_only = ephemeral_wallet(system, http)
        system.aws("scheduler").delete_schedule(Name=f"destroy-{ttl_only['wallet_id']}", GroupName=group)
        assert f"destroy-{ttl_only['wallet_id']}" not in schedule_names(system, group)

        partial = ephemeral_wallet(system, http)
        intent = fund(system, http, partial["wallet_id"])["payment_intent_id"]
        partial_paid = pay(system, http, partial["wallet_id"], amount="20.00")

        transformed = ephemeral_wallet(system, http)
        fund(system, http, transformed["wallet_id"])
        changed = http.post(f"{WALLETS}/{transformed['wallet_id']}/transform", headers=merchant(system))
        assert changed.status_code == 200, changed.text
        assert changed.json()["data"]["new_type"] == "persistent", changed.text
        yield Cohort(scheduled, socket, ttl_only, partial, intent, partial_paid, transformed)


# -- tests -------------------------------------------------------------------------------------------------
def test_paying_in_full_destroys_at_once_with_nothing_to_refund(
    system: RunningRuntime, http: httpx.Client
) -> None:
    wallet = ephemeral_wallet(system, http)
    sealed = sealed_keys(system, wallet["wallet_id"])
    assert sealed is not None and "wrapped_key" in sealed
    funded = fund(system, http, wallet["wallet_id"])
    paid = pay(system, http, wallet["wallet_id"])
    assert (paid["invoice_status"], paid["wallet_status"]) == ("paid", "destroyed"), paid
    assert paid["transaction_hash"] and Decimal(paid["amount_due"]) == 0
    # Funded for exactly the amount due: nothing remains, so no refund.
    assert refunds_of(system, funded["payment_intent_id"]) == []
    facts = destruction_log(system, wallet["wallet_id"])
    assert facts is not None
    assert (facts["reason"], facts["trigger"], facts["balance_before"]) == ("paid", "payment", "0.00"), facts
    assert facts["card"]["status"] == "canceled"
    # Crypto-erase: the wrapped data key is gone from the key table, which keeps no stream or backup of it.
    erased = sealed_keys(system, wallet["wallet_id"])
    assert erased is not None and "wrapped_key" not in erased and "erased_at" in erased
    assert wallet_of(system, http, wallet["wallet_id"])["status"] == "destroyed"
    group = scheduler_group(system)
    assert f"destroy-{wallet['wallet_id']}" not in schedule_names(system, group)


def test_an_unpaid_wallet_is_destroyed_by_its_schedule_within_two_seconds(
    system: RunningRuntime, http: httpx.Client, cohort: Cohort
) -> None:
    facts = await_destruction(system, cohort.scheduled)
    delay = delay_of(facts)
    started = epoch(facts["started_at"]) - epoch(facts["expires_at"])
    print(f"\nschedule path: expired after {started:.2f} s, destroyed after {delay:.2f} s (virtual)")
    assert (facts["reason"], facts["trigger"]) == ("expired", "schedule"), facts
    assert 0 <= started <= delay <= SCHEDULE_BUDGET, facts
    wallet = wallet_of(system, http, cohort.scheduled["wallet_id"])
    assert wallet["status"] == "destroyed"
    countdown = http.get(f"{WALLETS}/{cohort.scheduled['wallet_id']}/countdown").json()["data"]
    assert countdown["is_expired"] is True and countdown["remaining_seconds"] == 0


def receive_each(socket: ClientConnection, events: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    """The first message of each named event, in whatever order they arrive (pushes of one stream batch may
    overtake each other; `sequence` tells their order)."""
    deadline, seen = time.monotonic() + timeout, {}
    while set(seen) != events:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("event") in events:
            seen.setdefault(message["event"], dict(message))
    return seen


def test_countdown_followers_see_expired_then_destroyed(cohort: Cohort) -> None:
    seen = receive_each(cohort.socket, {"wallet.expired", "wallet:destroyed"}, timeout=60)
    expired, destroyed = seen["wallet.expired"], seen["wallet:destroyed"]
    channel = f"countdown:{cohort.scheduled['wallet_id']}"
    assert expired["channel"] == destroyed["channel"] == channel
    assert expired["sequence"] < destroyed["sequence"], (expired, destroyed)
    assert destroyed["data"]["wallet_id"] == cohort.scheduled["wallet_id"]
    assert destroyed["data"]["status"] == "destroyed"


def test_without_its_schedule_the_lease_ttl_alone_destroys_it(system: RunningRuntime, cohort: Cohort) -> None:
    facts = await_destruction(system, cohort.ttl_only)
    delay = delay_of(facts)
    started = epoch(facts["started_at"]) - epoch(facts["expires_at"])
    print(f"\nTTL path: expired after {started:.2f} s, destroyed after {delay:.2f} s (virtual)")
    assert (facts["reason"], facts["trigger"]) == ("expired", "ttl"), facts
    assert 0 <= started <= delay <= TTL_BOUND, facts


def test_a_partial_payment_leaves_the_rest_to_one_refund_at_expiry(
    system: RunningRuntime, http: httpx.Client, cohort: Cohort
) -> None:
    assert cohort.partial_paid["invoice_status"] == "partially_paid", cohort.partial_paid
    assert cohort.partial_paid["wallet_status"] != "destroyed"
    assert cohort.partial_paid["wallet_balance"] == "30.00"
    facts = await_destruction(system, cohort.partial)
    assert (facts["reason"], facts["balance_before"], facts["balance_after"]) == ("expired", "30.00", "0.00")
    refunds = wait_for(lambda: refunds_of(system, cohort.partial_intent))
    assert [(r["amount"], r["status"]) for r in refunds] == [(3000, "succeeded")], refunds
    (movement,) = [m for m in facts["final_movements"] if m["kind"] == "refund"]
    assert (movement["refund_id"], movement["amount"]) == (refunds[0]["id"], "30.00")
    # Later triggers (the lease's TTL REMOVE) find it done: still one refund.
    time.sleep(10 / SPEED)
    assert len(refunds_of(system, cohort.partial_intent)) == 1


def test_a_transformed_wallet_outlives_its_old_expiry(
    system: RunningRuntime, http: httpx.Client, cohort: Cohort
) -> None:
    wallet_id = cohort.transformed["wallet_id"]
    sleep_until_virtual(system, epoch(cohort.transformed["expires_at"]) + PAST_EXPIRY)
    wallet = wallet_of(system, http, wallet_id)
    assert (wallet["wallet_type"], wallet["status"]) == ("persistent", "funded"), wallet
    assert wallet["balance"] == "50.00"
    assert destruction_log(system, wallet_id) is None
