"""Batch transfers on moto with the provider stand-ins: consumers paid inside the ledger, outside addresses
in one Tempo call or one Circle call each, every bad item refused before anything moves, the KYC limit
charged with the hold, failed items retried without paying a paid item twice (also across a crash between
the provider's answer and the commit)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from shared.errors import DependencyUnavailable
from shared.ledger.accounts import Account
from tests.integration.conftest import body_of
from tests.integration.consumer_rig import ALICE, BOB, CAROL, Rig, checked, rig_fixture, servers  # noqa: F401

USDC = 1_000_000


def address() -> str:
    return "0x" + secrets.token_hex(20)


def batch(rig: Rig, recipients: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return rig.call("POST", "batch-transfer", ALICE, {"recipients": recipients, **extra})


@pytest.fixture
def people(rig: Rig) -> Rig:
    for who in (ALICE, BOB, CAROL):
        rig.onboard(who)
    rig.seed(ALICE, "USDC", "500.00")
    return rig


def test_consumers_are_paid_inside_the_ledger_by_id_email_and_phone(people: Rig) -> None:
    lines = [
        {"to": "usr_bob", "amount": "10.50", "currency": "USDC"},
        {"to": "carol@example.com", "amount": 20, "currency": "USDC"},
        {"to": "+14155550102", "amount": "0.000001", "currency": "USDC"},
    ]
    response = batch(people, lines, reference="rent")
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]["batch"]
    assert (data["status"], data["total"], data["fee"], data["reference"]) == (
        "completed",
        "30.500001",
        "0.00",
        "rent",
    )
    assert [i["status"] for i in data["items"]] == ["paid"] * 3
    assert all(i["transaction_id"].startswith("txn_") for i in data["items"])
    assert people.balance(BOB, "USDC") == 10_500_001 and people.balance(CAROL, "USDC") == 20 * USDC
    assert people.balance(ALICE, "USDC") == 500 * USDC - 30_500_001
    assert people.ledger.balance(Account.wallet(data["id"], "USDC")) == 0
    assert people.operations("tempo", "transfer") == [] and people.operations("tempo", "batch_transfer") == []
    limits = body_of(people.call("GET", "limits", ALICE))["data"]
    assert limits["daily"]["used"] == "30.50"  # 30.500001 shown in cents
    again = body_of(people.call("GET", f"batch-transfer/{data['id']}", ALICE))["data"]["batch"]
    assert again == data
    assert people.call("GET", f"batch-transfer/{data['id']}", BOB)["statusCode"] == 404
    received = body_of(people.call("GET", "transactions", BOB))["data"]["transactions"]
    assert {(t["type"], t["amount"], t["batch_id"]) for t in received} == {
        ("transfer_received", "10.50", data["id"]),
        ("transfer_received", "0.000001", data["id"]),
    }
    people.assert_balanced()


def test_every_bad_item_is_listed_by_index_and_nothing_moves(people: Rig) -> None:
    before = people.money_items()
    lines = [
        {"to": "usr_bob", "amount": "1", "currency": "USDC"},
        {"to": "nobody@example.com", "amount": "1", "currency": "USDC"},
        {"to": "usr_alice", "amount": "1", "currency": "USDC"},
        {"to": "usr_carol", "amount": "1.0000001", "currency": "USDC"},
        {"to": "usr_carol", "amount": "1", "currency": "DOGE"},
    ]
    response = batch(people, lines)
    assert response["statusCode"] == 400, response["body"]
    fields = {d["field"] for d in body_of(response)["details"]}
    assert {"recipients.3.amount", "recipients.4.currency"} <= fields
    # The schema's refusals come first; then the people: each bad one named by its index.
    response = batch(people, lines[:3])
    assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error"
    assert [d["field"] for d in body_of(response)["details"]] == ["recipients.1.to", "recipients.2.to"]
    too_many = [{"to": "usr_bob", "amount": "1", "currency": "USDC"}] * 101
    assert batch(people, too_many)["statusCode"] == 400
    assert batch(people, [])["statusCode"] == 400
    assert people.money_items() == before


def test_the_limit_counts_every_item_and_refuses_the_whole_batch(people: Rig) -> None:
    people.seed(ALICE, "USDC", "2000.00")
    before = people.money_items()
    lines = [{"to": "usr_bob", "amount": "400", "currency": "USDC"}] * 3
    response = batch(people, lines)
    assert response["statusCode"] == 400 and body_of(response)["code"] == "limit_exceeded", response["body"]
    assert body_of(response)["details"][0]["requested"] == "1200.00"
    assert people.money_items() == before
    short = batch(people, [{"to": "usr_bob", "amount": "900", "currency": "EURC"}])
    assert short["statusCode"] == 400 and body_of(short)["code"] == "insufficient_balance"
    assert people.money_items() == before


def test_outside_addresses_on_tempo_take_one_call_and_one_fee(people: Rig) -> None:
    outside = [address() for _ in range(3)]
    lines = [{"to": a, "amount": "5", "currency": "USDC"} for a in outside]
    lines.append({"to": "usr_bob", "amount": "1", "currency": "USDC"})
    response = batch(people, lines)
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]["batch"]
    assert (data["status"], data["provider"], data["total"], data["fee"]) == (
        "completed",
        "tempo",
        "16.00",
        "0.10",
    )
    calls = people.operations("tempo", "batch_transfer")
    assert len(calls) == 1 and sorted(leg["to"] for leg in calls[0]["legs"]) == sorted(outside)
    for target in outside:
        assert people.tempo.get("/_control/state").json()["balances"][target]["USDC"] == 5 * USDC
    assert people.balance(ALICE, "USDC") == (500 - 16) * USDC - 100_000
    assert people.ledger.balance(Account.fees("tenant-a", "USDC")) == 100_000
    assert people.ledger.balance(Account.external("chain", "USDC")) == -15 * USDC
    assert people.ledger.balance(Account.wallet(data["id"], "USDC")) == 0
    people.assert_balanced()


def test_circle_pays_item_by_item_and_retry_failed_pays_only_the_failed(people: Rig) -> None:
    people.tempo.post("/_control/down")
    checked()
    # Circle holds 12 USDC of Alice's: the first two items fit, the third is refused for good.
    people.mint_at("circle", "USDC", 12 * USDC, people.wallets["usr_alice"]["wallet_address"])
    outside = [address() for _ in range(3)]
    lines = [{"to": a, "amount": "5", "currency": "USDC"} for a in outside]
    response = batch(people, lines)
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]["batch"]
    assert data["status"] == "completed_with_errors" and data["provider"] == "circle"
    assert [i["status"] for i in data["items"]] == ["paid", "paid", "failed"]
    assert data["items"][2]["error"] and "transaction_id" not in data["items"][2]
    assert len(people.operations("circle", "transfer")) == 2
    # The failed item's money and fee came back, and its limit use was released.
    assert people.balance(ALICE, "USDC") == (500 - 10) * USDC - 2 * 50_000
    limits = body_of(people.call("GET", "limits", ALICE))["data"]
    assert limits["daily"]["used"] == "10.00"
    people.mint_at("circle", "USDC", 10 * USDC, people.wallets["usr_alice"]["wallet_address"])
    retried = people.call("POST", f"batch-transfer/{data['id']}/retry-failed", ALICE)
    assert retried["statusCode"] == 200, retried["body"]
    after = body_of(retried)["data"]["batch"]
    assert after["status"] == "completed" and [i["status"] for i in after["items"]] == ["paid"] * 3
    transfers = people.operations("circle", "transfer")
    assert len(transfers) == 3 and sorted(op["to"] for op in transfers) == sorted(outside)
    assert people.balance(ALICE, "USDC") == (500 - 15) * USDC - 3 * 50_000
    again = people.call("POST", f"batch-transfer/{data['id']}/retry-failed", ALICE)
    assert body_of(again)["data"]["batch"] == after and len(people.operations("circle", "transfer")) == 3
    people.assert_balanced()


def test_a_crash_between_the_provider_and_the_commit_is_finished_by_retry_without_paying_twice(
    people: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import bootstrap

    ledger = bootstrap.app().batch_transfers._ledger  # the fault goes between call and commit
    real_post = ledger.post
    crashed: list[str] = []

    def post(journal: Any, also: Any = ()) -> Any:
        if journal.references.get("provider_tx") and not crashed:
            crashed.append(journal.id)
            raise DependencyUnavailable("the table went away after the provider paid")
        return real_post(journal, also)

    monkeypatch.setattr(ledger, "post", post)
    outside = [address() for _ in range(2)]
    response = batch(people, [{"to": a, "amount": "7", "currency": "USDC"} for a in outside])
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]["batch"]
    assert crashed and data["status"] == "processing"
    assert [i["status"] for i in data["items"]] == ["processing", "processing"]
    assert len(people.operations("tempo", "batch_transfer")) == 1
    retried = body_of(people.call("POST", f"batch-transfer/{data['id']}/retry-failed", ALICE))["data"][
        "batch"
    ]
    assert retried["status"] == "completed"
    # The same key answered the same transfer: the outside addresses were paid once.
    assert len(people.operations("tempo", "batch_transfer")) == 1
    for target in outside:
        assert people.tempo.get("/_control/state").json()["balances"][target]["USDC"] == 7 * USDC
    assert people.balance(ALICE, "USDC") == (500 - 14) * USDC - 100_000
    people.assert_balanced()


def test_with_tempo_down_a_coin_circle_does_not_serve_is_503_and_nothing_moves(people: Rig) -> None:
    people.seed(ALICE, "USDT", "50.00")
    people.tempo.post("/_control/down")
    checked()
    before = people.money_items()
    response = batch(people, [{"to": address(), "amount": "5", "currency": "USDT"}])
    assert response["statusCode"] == 503 and body_of(response)["code"] == "provider_unavailable"
    assert people.money_items() == before
    # Between consumers no provider is needed: the same coin still moves.
    inside = batch(people, [{"to": "usr_bob", "amount": "5", "currency": "USDT"}])
    assert body_of(inside)["data"]["batch"]["status"] == "completed"


def test_the_same_idempotency_key_replays_the_batch_and_moves_once(people: Rig) -> None:
    lines = [{"to": "usr_bob", "amount": "3", "currency": "USDC"}]
    first = people.call(
        "POST", "batch-transfer", ALICE, {"recipients": lines}, headers={"Idempotency-Key": "b-1"}
    )
    second = people.call(
        "POST", "batch-transfer", ALICE, {"recipients": lines}, headers={"Idempotency-Key": "b-1"}
    )
    assert first["statusCode"] == second["statusCode"] == 201
    assert body_of(first) == body_of(second) and people.balance(BOB, "USDC") == 3 * USDC


WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")


@pytest.mark.parametrize("outside", [True, False], ids=["100-addresses-on-tempo", "100-consumers"])
def test_a_batch_of_100_takes_one_provider_call_and_few_write_round_trips(people: Rig, outside: bool) -> None:
    people.seed(ALICE, "USDC", "400.00")
    targets = [address() for _ in range(100)] if outside else ["usr_bob", "usr_carol"] * 50
    before = dict(people.aws_calls)
    response = batch(people, [{"to": t, "amount": "1.25", "currency": "USDC"} for t in targets])
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]["batch"]
    assert data["status"] == "completed" and len(data["items"]) == 100
    writes = {op: people.aws_calls.get(op, 0) - before.get(op, 0) for op in WRITES}
    provider_calls = len(people.operations("tempo", "batch_transfer")) + len(
        people.operations("tempo", "transfer")
    )
    kind = "addresses on Tempo" if outside else "consumers"
    print(f"\nbatch of 100 {kind}: provider calls {provider_calls}, DynamoDB writes {sum(writes.values())}")
    # The hold, then one commit for the Tempo call, or one per 10 consumers; the two updates beside them
    # are the caller's rate-limit windows (all and money routes).
    assert provider_calls == (1 if outside else 0)
    assert writes["transact_write_items"] == (2 if outside else 11)
    assert writes["update_item"] == 2 and sum(writes.values()) == writes["transact_write_items"] + 2
    people.assert_balanced()


def test_concurrent_batches_pass_the_daily_limit_never_together(people: Rig) -> None:
    from concurrent.futures import ThreadPoolExecutor

    people.seed(ALICE, "USDC", "1000.00")
    lines = [
        {"to": "usr_bob", "amount": "100", "currency": "USDC"},
        {"to": "usr_carol", "amount": "50", "currency": "USDC"},
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: batch(people, lines), range(8)))
    codes = sorted(body_of(a).get("code", "created") for a in answers)
    # $150 each against level 1's $1,000 a day: exactly six fit, the others are refused whole.
    assert codes == ["created"] * 6 + ["limit_exceeded"] * 2, [a["body"][:200] for a in answers]
    assert people.balance(BOB, "USDC") == 600 * USDC and people.balance(CAROL, "USDC") == 300 * USDC
    assert body_of(people.call("GET", "limits", ALICE))["data"]["daily"]["used"] == "900.00"
    people.assert_balanced()


# -- the sweeper finishes a batch nobody retried ------------------------------------------------------------


@pytest.mark.parametrize(
    "crash_at", [2, 3], ids=["before-the-consumers-are-paid", "after-the-provider-paid-before-the-commit"]
)
def test_a_batch_left_by_a_crash_is_finished_by_the_sweeper_without_paying_twice(
    people: Rig, monkeypatch: pytest.MonkeyPatch, crash_at: int
) -> None:
    from shared import bootstrap

    ledger = bootstrap.app().batch_transfers._ledger
    real_post = ledger.post
    posts: list[str] = []

    def post(journal: Any, also: Any = ()) -> Any:
        posts.append(journal.id)
        if len(posts) == crash_at:
            raise RuntimeError("the function died between its provider call and its commit")
        return real_post(journal, also)

    # The hold (post 1), the consumers paid inside the ledger (2), the Tempo batch committed (3).
    monkeypatch.setattr(ledger, "post", post)
    outside = [address() for _ in range(2)]
    lines = [{"to": a, "amount": "7", "currency": "USDC"} for a in outside]
    lines.append({"to": "usr_bob", "amount": "4", "currency": "USDC"})
    assert batch(people, lines)["statusCode"] == 500
    monkeypatch.setattr(ledger, "post", real_post)
    assert people.balance(ALICE, "USDC") == (500 - 18) * USDC - 100_000  # held, not finished
    sweeper = bootstrap.app().sweeper
    assert sweeper.sweep().due == 0  # not yet past its deadline
    people.clock.advance(minutes=6)
    report = sweeper.sweep()
    assert report.due == 1 and report.left_open == 0 and report.outcomes["completed"] == 1, report
    # One batch call at Tempo (a crash after it met the same key again), every item paid once.
    assert len(people.operations("tempo", "batch_transfer")) == 1
    for target in outside:
        assert people.tempo.get("/_control/state").json()["balances"][target]["USDC"] == 7 * USDC
    assert people.balance(BOB, "USDC") == 4 * USDC
    assert people.balance(ALICE, "USDC") == (500 - 18) * USDC - 100_000
    listed = body_of(people.call("GET", "transactions", ALICE))["data"]["transactions"]
    batch_id = next(t["batch_id"] for t in listed if t.get("batch_id"))
    assert people.ledger.balance(Account.wallet(batch_id, "USDC")) == 0
    done = body_of(people.call("GET", f"batch-transfer/{batch_id}", ALICE))["data"]["batch"]
    assert done["status"] == "completed" and [i["status"] for i in done["items"]] == ["paid"] * 3
    people.clock.advance(minutes=10)
    assert sweeper.sweep().due == 0
    people.assert_balanced()


def test_a_batch_whose_provider_stays_down_stays_claimed_and_a_finished_one_leaves_the_index(
    people: Rig,
) -> None:
    from shared import bootstrap

    people.tempo.post(
        "/_control/fail", json={"mode": "error", "status": 503, "count": 2, "path": "/v1/transfers/batch"}
    )
    response = batch(people, [{"to": address(), "amount": "3", "currency": "USDC"}])
    assert body_of(response)["data"]["batch"]["status"] == "processing", response["body"]
    sweeper = bootstrap.app().sweeper
    people.clock.advance(minutes=6)
    report = sweeper.sweep()
    assert report.due == 1 and report.outcomes["failed"] == 1, report  # still down: kept for the next run
    people.clock.advance(minutes=6)
    report = sweeper.sweep()
    assert report.due == 1 and report.outcomes["completed"] == 1, report
    assert len(people.operations("tempo", "batch_transfer")) == 1
    finished = batch(people, [{"to": "usr_bob", "amount": "1", "currency": "USDC"}])
    assert body_of(finished)["data"]["batch"]["status"] == "completed"
    people.clock.advance(minutes=6)
    assert sweeper.sweep().due == 0
    people.assert_balanced()
