"""Payouts on moto with the provider stand-ins: every item checked before anything is stored, maker-checker
approval, the last approval holding the total on the treasury (two concurrent approvals never overdraw it),
vendor items paid in the background (consumers inside the ledger, addresses in one Tempo call per chunk),
failed items retried without paying a paid item twice, also across a crash between the provider and the
commit; the treasury gets back what was not paid and the ledger stays balanced."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.errors import DependencyUnavailable
from shared.ledger.accounts import Account
from tests.integration.conftest import TABLE, body_of, scan_all
from tests.integration.consumer_rig import BOB, CAROL, Rig, checked, rig_fixture, servers  # noqa: F401
from tests.integration.payout_rig import (
    CHECKER,
    MAKER,
    SECOND,
    TENANT,
    USDC,
    address,
    call,
    create,
    data,
    error,
    fund_treasury,
    item,
    payout_items,
    run,
    treasury_balance,
)


@pytest.fixture
def people(rig: Rig) -> Rig:
    for who in (BOB, CAROL):
        rig.onboard(who)
    return rig


def test_a_vendor_payout_is_approved_held_and_paid_in_the_background(people: Rig) -> None:
    fund_treasury(people, "1000.00")
    outside = [address() for _ in range(3)]
    items = [
        item({"consumer_id": "usr_bob"}, "10.50", "inv-1"),
        item({"email": "Carol@Example.com"}, "20", "inv-2"),
        *[item({"address": a}, "5", f"inv-{3 + n}") for n, a in enumerate(outside)],
    ]
    created = data(create(items, reference="march-vendors"), 201)["payout"]
    assert created["status"] == "pending_approval" and created["approvals_required"] == 1
    assert [i["status"] for i in created["items"]] == ["pending"] * 5
    assert treasury_balance(people) == 1000 * USDC

    approved = data(call("POST", f"/api/v1/payouts/{created['id']}/approve", CHECKER))["payout"]
    assert approved["status"] == "approved" and approved["approvals"] == ["usr_checker"]
    assert treasury_balance(people) == (1000 - 45.5) * USDC
    assert people.ledger.balance(Account.wallet(created["id"], "USDC")) == 45.5 * USDC
    assert people.operations("tempo", "batch_transfer") == []  # nothing paid in the request

    assert run(created["id"])["status"] == "completed"
    done = data(call("GET", f"/api/v1/payouts/{created['id']}"))["payout"]
    assert done["status"] == "completed" and [i["status"] for i in done["items"]] == ["paid"] * 5
    assert done["counts"] == {"paid": 5}
    assert people.balance(BOB, "USDC") == 10_500_000 and people.balance(CAROL, "USDC") == 20 * USDC
    [call_made] = people.operations("tempo", "batch_transfer")
    state = people.tempo.get("/_control/state").json()["balances"]
    assert all(state[a]["USDC"] == 5 * USDC for a in outside) and call_made
    assert people.ledger.balance(Account.wallet(created["id"], "USDC")) == 0
    assert run(created["id"])["status"] == "completed"  # a redelivered run changes nothing
    assert len(people.operations("tempo", "batch_transfer")) == 1
    names = [
        i["event_name"]["S"]
        for i in scan_all(people.dynamodb)
        if i["pk"]["S"].startswith("OUTBOX#") and i.get("resource_id", {}).get("S") == created["id"]
    ]
    assert {"payout.created", "payout.approved", "payout.processing", "payout.completed"} <= set(names)
    people.assert_balanced()


def test_bad_payouts_are_4xx_listing_each_item_and_store_nothing(people: Rig) -> None:
    fund_treasury(people, "100.00")
    before = payout_items(people)
    too_many = [item({"address": address()}, "1", f"r{n}") for n in range(5001)]
    error(create(too_many), 400, "validation_error")
    duplicate = [
        item({"consumer_id": "usr_bob"}, "1", "same"),
        item({"consumer_id": "usr_carol"}, "1", "same"),
    ]
    body = error(create(duplicate), 400, "validation_error")
    assert [d["field"] for d in body["details"]] == ["items.1.reference"]
    unknown = [
        item({"consumer_id": "usr_nobody"}, "1", "a"),
        item({"consumer_id": "usr_bob"}, "1", "b"),
        item({"email": "ghost@example.com"}, "1", "c"),
    ]
    body = error(create(unknown), 400, "validation_error")
    assert [d["field"] for d in body["details"]] == ["items.0.recipient", "items.2.recipient"]
    body = error(create([item({"address": address()}, "1", "a")], purpose="payroll"), 400, "validation_error")
    assert body["details"][0]["field"] == "items.0.recipient"
    for bad in ("0", "-1", "1.0000001", "NaN"):
        error(create([item({"consumer_id": "usr_bob"}, bad, "a")]), 400, "validation_error")
    error(
        create(
            [
                {
                    "recipient": {"consumer_id": "usr_bob", "email": "b@example.com"},
                    "amount": "1",
                    "currency": "USDC",
                    "reference": "x",
                }
            ]
        ),
        400,
        "validation_error",
    )
    error(create([item({"consumer_id": "usr_bob"}, "1", "a", currency="DOGE")]), 400, "validation_error")
    assert payout_items(people) == before


def test_maker_checker_rules_and_the_tenant_policy(people: Rig) -> None:
    fund_treasury(people, "100.00")
    people.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"TENANT#{TENANT}"},
            "sk": {"S": "PAYOUT_POLICY"},
            "approvals_required": {"N": "2"},
        },
    )
    payout = data(create([item({"consumer_id": "usr_bob"}, "30", "a")]), 201)["payout"]
    path = f"/api/v1/payouts/{payout['id']}"
    error(call("POST", f"{path}/approve", MAKER), 403, "forbidden")  # a merchant, and the creator
    creator_admin = {**MAKER, "roles": "admin"}
    error(call("POST", f"{path}/approve", creator_admin), 403, "forbidden")
    first = data(call("POST", f"{path}/approve", CHECKER))["payout"]
    assert first["status"] == "pending_approval" and treasury_balance(people) == 100 * USDC
    error(call("POST", f"{path}/approve", CHECKER), 409, "conflict")
    second = data(call("POST", f"{path}/approve", SECOND))["payout"]
    assert second["status"] == "approved" and treasury_balance(people) == 70 * USDC
    error(call("POST", f"{path}/approve", {**SECOND, "sub": "usr_third"}), 409, "conflict")

    # Cancelling an approved payout before it runs gives its hold back; approving it then is invalid_state.
    cancelled = data(call("POST", f"{path}/cancel", CHECKER))["payout"]
    assert cancelled["status"] == "cancelled" and treasury_balance(people) == 100 * USDC
    error(call("POST", f"{path}/approve", {**SECOND, "sub": "usr_fourth"}), 400, "invalid_state")
    assert run(payout["id"])["status"] == "cancelled" and people.balance(BOB, "USDC") == 0

    rejected = data(create([item({"consumer_id": "usr_bob"}, "1", "a")]), 201)["payout"]
    assert data(call("POST", f"/api/v1/payouts/{rejected['id']}/reject", CHECKER))["payout"]["status"] == (
        "rejected"
    )
    error(call("POST", f"/api/v1/payouts/{rejected['id']}/approve", SECOND), 400, "invalid_state")
    other_tenant = {**CHECKER, "tenant_id": "tenant-b"}
    error(call("GET", path, other_tenant), 404, "not_found")
    error(call("GET", path, {**BOB, "roles": "consumer"}), 403, "forbidden")
    people.assert_balanced()


def test_a_short_treasury_refuses_the_approval_and_nothing_changes(people: Rig) -> None:
    fund_treasury(people, "10.00")
    payout = data(create([item({"consumer_id": "usr_bob"}, "10.01", "a")]), 201)["payout"]
    before = payout_items(people)
    body = error(
        call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER), 400, "insufficient_balance"
    )
    assert any(d["type"] == "insufficient_balance" for d in body["details"])
    assert payout_items(people) == before and treasury_balance(people) == 10 * USDC


def test_two_payouts_approved_at_once_that_together_exceed_the_treasury_one_wins(people: Rig) -> None:
    fund_treasury(people, "100.00")
    ids = [
        data(create([item({"consumer_id": "usr_bob"}, "60", f"x{n}")]), 201)["payout"]["id"] for n in (1, 2)
    ]
    barrier = threading.Barrier(2)

    def approve(payout_id: str) -> dict[str, Any]:
        barrier.wait()
        return call("POST", f"/api/v1/payouts/{payout_id}/approve", CHECKER)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(approve, ids))
    codes = sorted(a["statusCode"] for a in answers)
    assert codes == [200, 400], [a["body"] for a in answers]
    loser = next(a for a in answers if a["statusCode"] == 400)
    assert body_of(loser)["code"] == "insufficient_balance"
    assert treasury_balance(people) == 40 * USDC
    statuses = sorted(data(call("GET", f"/api/v1/payouts/{i}"))["payout"]["status"] for i in ids)
    assert statuses == ["approved", "pending_approval"]
    people.assert_balanced()


def test_refused_items_fail_back_to_the_treasury_and_retry_failed_pays_only_them(people: Rig) -> None:
    people.tempo.post("/_control/down")
    checked()
    # The ledger holds 100 in the treasury, but Circle holds only 12 at its address: two items of 5 fit,
    # the third is refused for good.
    source = fund_treasury(people, "100.00", at="circle")
    people.circle.post("/_control/reset")
    people.mint_at("circle", "USDC", 12 * USDC, source)
    outside = [address() for _ in range(3)]
    payout = data(create([item({"address": a}, "5", f"v{n}") for n, a in enumerate(outside)]), 201)["payout"]
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    assert treasury_balance(people) == 85 * USDC
    assert run(payout["id"])["status"] == "completed_with_errors"
    after = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]
    assert [i["status"] for i in after["items"]] == ["paid", "paid", "failed"]
    assert after["items"][2]["error"] and after["counts"] == {"failed": 1, "paid": 2}
    assert treasury_balance(people) == 90 * USDC  # the failed item's 5 came back
    assert people.ledger.balance(Account.wallet(payout["id"], "USDC")) == 0
    people.assert_balanced()

    people.mint_at("circle", "USDC", 10 * USDC, source)
    retried = data(call("POST", f"/api/v1/payouts/{payout['id']}/retry-failed", CHECKER))["payout"]
    assert retried["status"] == "processing" and retried["items"][2]["attempt"] == 2
    assert run(payout["id"])["status"] == "completed"
    transfers = people.operations("circle", "transfer")
    assert len(transfers) == 3 and sorted(op["to"] for op in transfers) == sorted(outside)
    assert treasury_balance(people) == 85 * USDC
    # Nothing failed is left: retrying a completed payout is invalid_state and pays nothing.
    error(call("POST", f"/api/v1/payouts/{payout['id']}/retry-failed", CHECKER), 400, "invalid_state")
    assert run(payout["id"])["status"] == "completed" and len(people.operations("circle", "transfer")) == 3
    people.assert_balanced()


def test_a_crash_between_the_provider_call_and_the_commit_pays_once(
    people: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import bootstrap

    fund_treasury(people, "100.00")
    ledger = bootstrap.app().payouts._ledger
    real_post = ledger.post
    crashed: list[str] = []

    def post(journal: Any, also: Any = ()) -> Any:
        if journal.references.get("provider_tx") and not crashed:
            crashed.append(journal.id)
            raise DependencyUnavailable("the table went away after the provider paid")
        return real_post(journal, also)

    monkeypatch.setattr(ledger, "post", post)
    outside = [address() for _ in range(2)]
    payout = data(create([item({"address": a}, "7", f"c{n}") for n, a in enumerate(outside)]), 201)["payout"]
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    assert run(payout["id"])["status"] == "processing" and crashed
    stuck = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]
    assert [i["status"] for i in stuck["items"]] == ["processing", "processing"]
    assert len(people.operations("tempo", "batch_transfer")) == 1
    data(call("POST", f"/api/v1/payouts/{payout['id']}/retry-failed", CHECKER))
    assert run(payout["id"])["status"] == "completed"
    assert len(people.operations("tempo", "batch_transfer")) == 1
    state = people.tempo.get("/_control/state").json()["balances"]
    assert all(state[a]["USDC"] == 7 * USDC for a in outside)
    assert treasury_balance(people) == 86 * USDC
    people.assert_balanced()


def test_the_reference_answers_the_same_payout_within_30_days_and_large_payouts_are_chunked(
    people: Rig,
) -> None:
    fund_treasury(people, "1000.00")
    items = [item({"consumer_id": "usr_bob" if n % 2 else "usr_carol"}, "1", f"p{n}") for n in range(250)]
    first = create(items, reference="payroll-2030-01")
    payout = data(first, 201)["payout"]
    repeat = data(create(items[:1], reference="payroll-2030-01"))["payout"]
    assert repeat["id"] == payout["id"] and repeat["item_count"] == 250
    chunks = [
        i
        for i in scan_all(people.dynamodb)
        if i["pk"]["S"] == f"PAYOUT#{payout['id']}" and i["sk"]["S"] != "META"
    ]
    assert len(chunks) == 3
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    assert run(payout["id"])["status"] == "completed"
    assert people.balance(BOB, "USDC") == 125 * USDC and people.balance(CAROL, "USDC") == 125 * USDC
    assert treasury_balance(people) == 750 * USDC
    people.assert_balanced()


def test_a_scheduled_vendor_payout_is_held_at_approval_and_paid_by_its_at_schedule(people: Rig) -> None:
    from datetime import timedelta

    from shared import bootstrap
    from shared.adapters.timers import PAYOUT, SchedulerTimers

    adapters = bootstrap.app().adapters
    worker_arn = "arn:aws:lambda:us-east-1:123456789012:function:payout_worker"
    adapters.__dict__["payout_timer"] = SchedulerTimers(
        adapters.scheduler,
        PAYOUT,
        replace=False,
        group_name="default",
        role_arn="arn:aws:iam::123456789012:role/scheduler",
        dead_letter_arn="",
        target=lambda: worker_arn,
    )
    fund_treasury(people, "100.00")
    when = people.clock.now() + timedelta(hours=2)
    body = [item({"consumer_id": "usr_bob"}, "25", "rent"), item({"address": address()}, "5", "fee")]
    payout = data(create(body, scheduled_for=when.isoformat()), 201)["payout"]
    assert payout["scheduled_for"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    assert treasury_balance(people) == 70 * USDC
    schedule = adapters.scheduler.get_schedule(Name=f"payout-{payout['id']}", GroupName="default")
    assert schedule["ScheduleExpression"] == f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"
    assert schedule["Target"]["Arn"] == worker_arn and payout["id"] in schedule["Target"]["Input"]
    # The bus delivers payout.approved at once: too early, nothing is paid.
    assert run(payout["id"])["status"] == "approved" and people.balance(BOB, "USDC") == 0
    people.clock.advance(hours=2)
    assert run(payout["id"])["status"] == "completed"
    assert people.balance(BOB, "USDC") == 25 * USDC
    assert len(people.operations("tempo", "batch_transfer")) == 1
    people.assert_balanced()


def test_a_storm_of_provider_faults_and_concurrent_runs_pays_every_item_once_or_fails_it(people: Rig) -> None:
    """Circle (one call per item) failing a third of calls with 503s and hung answers, three workers running
    the payout at once and retry-failed between rounds: every item ends paid exactly once or failed, what was
    not paid is back in the treasury, and the ledger balances."""
    people.tempo.post("/_control/down")
    checked()
    source = fund_treasury(people, "500.00", at="circle")
    outside = [address() for _ in range(30)]
    items = [item({"address": a}, f"{1 + n % 4}.5", f"s{n}") for n, a in enumerate(outside)]
    payout = data(create(items), 201)["payout"]
    data(call("POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER))
    people.circle.post("/_control/reset", json={"seed": 7})
    people.mint_at("circle", "USDC", 500 * USDC, source)
    people.circle.post("/_control/fail", json={"mode": "error", "status": 503, "probability": 0.3})
    people.circle.post(
        "/_control/fail",
        json={"mode": "timeout_after", "probability": 0.1, "hang_seconds": 0.3, "path": "/v1"},
    )
    for _ in range(4):
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda _: run(payout["id"]), range(3)))
        current = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]
        if current["status"] in ("processing", "completed_with_errors"):
            call("POST", f"/api/v1/payouts/{payout['id']}/retry-failed", CHECKER)
        checked()
    people.circle.post("/_control/clear_faults")
    # The failures opened Circle's circuit breaker: its cool-down passes before the last rounds.
    people.clock.advance(minutes=10)
    checked()
    for _ in range(3):
        if data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]["status"] == "completed":
            break
        call("POST", f"/api/v1/payouts/{payout['id']}/retry-failed", CHECKER)
        run(payout["id"])
    final = data(call("GET", f"/api/v1/payouts/{payout['id']}"))["payout"]
    assert final["status"] in ("completed", "completed_with_errors"), final["counts"]
    state = people.circle.get("/_control/state").json()["balances"]
    paid_total = 0
    for entry, target in zip(final["items"], outside, strict=True):
        expected = int(entry["amount"].replace(".", "")) * USDC // 100
        received = state.get(target, {}).get("USDC", 0)
        if entry["status"] == "paid":
            assert received == expected, entry  # exactly once
            paid_total += expected
        else:
            assert entry["status"] == "failed" and received == 0, entry
    transfers = people.operations("circle", "transfer")
    assert len(transfers) == sum(1 for i in final["items"] if i["status"] == "paid")
    assert people.ledger.balance(Account.wallet(payout["id"], "USDC")) == 0
    assert treasury_balance(people) == 500 * USDC - paid_total
    people.assert_balanced()
