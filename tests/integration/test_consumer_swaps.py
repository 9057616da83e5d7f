"""Swaps on moto with the provider stand-ins: a 30-second quote, a burn and a mint at the provider, the
reserve moved between USD and EUR in the same journal (reconciliation stays balanced per currency), and the
refusals (expired quote, slippage, same coin, Circle without the coin) that swap nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.ledger.accounts import Account
from tests.integration.conftest import body_of, scan_all
from tests.integration.consumer_rig import ALICE, BOB, Rig, checked, rig_fixture, servers  # noqa: F401

USDC = 1_000_000


@pytest.fixture
def alice(rig: Rig) -> Rig:
    rig.onboard(ALICE)
    rig.onboard(BOB)
    rig.seed(ALICE, "USDC", "200.00")
    return rig


def quote(rig: Rig, **body: object) -> dict[str, object]:
    response = rig.call("POST", "swap/quote", ALICE, body)
    assert response["statusCode"] == 200, response["body"]
    return dict(body_of(response)["data"])


def test_a_quoted_usdc_to_eurc_swap_burns_mints_and_moves_the_reserve_to_eur(alice: Rig) -> None:
    before_limits = body_of(alice.call("GET", "limits", ALICE))["data"]["daily"]["used"]
    q = quote(alice, **{"from": "USDC", "to": "EURC", "amount": "100"})
    # 100 USDC less 0.10% fee = 99.90 burned; at 1/1.085 EUR per USD: 92.073732 -> 92.07 EURC (whole cents).
    assert (q["from_amount"], q["fee"], q["to_amount"], q["rate"]) == ("100.00", "0.10", "92.07", "0.921658")
    assert q["expires_at"] == "2030-01-15T12:00:30.000Z"
    response = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert (data["from_amount"], data["to_amount"], data["fee"], data["provider"]) == (
        "100.00",
        "92.07",
        "0.10",
        "tempo",
    )
    assert data["transaction"]["type"] == "swap" and data["transaction"]["status"] == "completed"
    assert alice.balance(ALICE, "USDC") == 100 * USDC and alice.balance(ALICE, "EURC") == 92_070_000
    assert alice.ledger.balance(Account.reserve("USD")) == 20000 - 9990
    assert alice.ledger.balance(Account.reserve("EUR")) == 9207
    assert alice.ledger.balance(Account.fees("tenant-a", "USDC")) == 100_000
    burns, mints = alice.operations("tempo", "burn"), alice.operations("tempo", "mint")
    assert [(b["asset"], b["amount"]) for b in burns] == [("USDC", 99_900_000)]
    assert ("EURC", 92_070_000) in [(m["asset"], m["amount"]) for m in mints]
    alice.assert_balanced()
    # Swaps do not count against the KYC limits.
    assert body_of(alice.call("GET", "limits", ALICE))["data"]["daily"]["used"] == before_limits
    events = [i["event_name"]["S"] for i in scan_all(alice.dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert "swap:complete" in events
    # The same quote swaps once: again answers the same swap, and nothing moves twice.
    again = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert body_of(again)["data"] == data and len(alice.operations("tempo", "burn")) == 1


def test_an_expired_quote_and_a_moved_price_refuse_and_swap_nothing(alice: Rig) -> None:
    q = quote(alice, **{"from": "USDC", "to": "EURC", "amount": "50"})
    before = alice.money_items()
    alice.clock.advance(seconds=30)
    expired = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert expired["statusCode"] == 409 and body_of(expired)["code"] == "quote_expired"
    fresh = quote(alice, **{"from": "USDC", "to": "EURC", "amount": "50"})
    before = alice.money_items()
    alice.rates.eur = Decimal("1.0950")  # EUR dearer: fewer EURC per USDC, 0.91% worse than quoted
    moved = alice.call("POST", "swap", ALICE, {"quote_id": fresh["quote_id"]})
    assert moved["statusCode"] == 409 and body_of(moved)["code"] == "slippage_exceeded", moved["body"]
    wide = alice.call("POST", "swap", ALICE, {"quote_id": fresh["quote_id"], "max_slippage_bps": 100})
    assert wide["statusCode"] == 200, wide["body"]
    assert body_of(wide)["data"]["rate"] == "0.913242"
    assert alice.money_items() != before  # the wide bound swapped
    assert alice.operations("tempo", "burn") and len(alice.operations("tempo", "burn")) == 1
    alice.assert_balanced()


def test_bad_swaps_are_refused_before_anything_moves(alice: Rig) -> None:
    before = alice.money_items()
    cases = [
        ({"from": "USDC", "to": "USDC", "amount": "1"}, 400, "validation_error"),
        ({"from": "USDC", "to": "DOGE", "amount": "1"}, 400, "validation_error"),
        ({"from": "USDC", "to": "EURC", "amount": "1.0000001"}, 400, "validation_error"),
        ({"from": "USDC", "to": "EURC", "amount": "0.01"}, 400, "validation_error"),
        ({"from": "USDC", "to": "EURC", "amount": "500"}, 400, "insufficient_balance"),
        ({"quote_id": "swq_" + "0" * 24}, 404, "not_found"),
        ({"quote_id": "swq_" + "0" * 24, "from": "USDC"}, 400, "validation_error"),
    ]
    for body, status, code in cases:
        response = alice.call("POST", "swap", ALICE, body)
        assert (response["statusCode"], body_of(response)["code"]) == (status, code), (body, response["body"])
    swap_items = [
        i for i in alice.money_items() if "#SWAP#" in i["sk"]["S"] or i["sk"]["S"].startswith("SWAP#")
    ]
    assert not swap_items
    # Only the refused direct swap's quote was written (quotes are not money); the ledger is as it was.
    ledger_before = [i for i in before if i["pk"]["S"].startswith("LEDGER#")]
    assert [i for i in alice.money_items() if i["pk"]["S"].startswith("LEDGER#")] == ledger_before
    assert alice.operations("tempo", "burn") == []


def test_with_tempo_down_circle_swaps_usdc_to_eurc_but_not_usdt(alice: Rig) -> None:
    alice.seed(ALICE, "USDT", "20.00", at="circle")
    alice.mint_at("circle", "USDC", 200 * USDC, alice.wallets["usr_alice"]["wallet_address"])
    alice.tempo.post("/_control/down")
    checked()
    before = alice.money_items()
    refused = alice.call("POST", "swap", ALICE, {"from": "USDT", "to": "USDC", "amount": "10"})
    assert refused["statusCode"] == 503 and body_of(refused)["code"] == "provider_unavailable"
    assert [i for i in alice.money_items() if i["pk"]["S"].startswith("LEDGER#")] == [
        i for i in before if i["pk"]["S"].startswith("LEDGER#")
    ]
    done = alice.call("POST", "swap", ALICE, {"from": "USDC", "to": "EURC", "amount": "10"})
    assert done["statusCode"] == 200 and body_of(done)["data"]["provider"] == "circle", done["body"]
    assert alice.operations("tempo", "burn") == [] and len(alice.operations("circle", "burn")) == 1
    alice.assert_balanced()


def test_an_outage_after_the_burn_is_finished_by_the_same_quote_without_moving_twice(alice: Rig) -> None:
    q = quote(alice, **{"from": "USDC", "to": "EURC", "amount": "40"})
    failed = alice.tempo.post("/_control/fail", json={"path": "/v1/mints", "count": 1, "status": 503})
    assert failed.status_code == 200
    cut = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert cut["statusCode"] == 503 and body_of(cut)["code"] == "provider_unavailable", cut["body"]
    assert body_of(cut)["details"][0]["quote_id"] == q["quote_id"]
    # Burned at the provider, held in the ledger: the wallet cannot spend it twice meanwhile.
    assert len(alice.operations("tempo", "burn")) == 1 and alice.balance(ALICE, "USDC") == 160 * USDC
    assert alice.balance(ALICE, "EURC") == 0
    finished = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert finished["statusCode"] == 200, finished["body"]
    assert body_of(finished)["data"]["to_amount"] == q["to_amount"]
    assert len(alice.operations("tempo", "burn")) == 1
    assert [m["asset"] for m in alice.operations("tempo", "mint")].count("EURC") == 1
    assert alice.balance(ALICE, "EURC") == int(Decimal(str(q["to_amount"])) * USDC)
    alice.assert_balanced()


# -- the sweeper finishes a swap nobody retried -------------------------------------------------------------


@pytest.mark.parametrize("cut", ["crash-before-the-commit", "mint-outage"])
def test_a_swap_left_mid_way_is_finished_by_the_sweeper_without_moving_twice(
    alice: Rig, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    from shared import bootstrap

    q = quote(alice, **{"from": "USDC", "to": "EURC", "amount": "40"})
    ledger = bootstrap.app().swaps._ledger
    real_post = ledger.post
    if cut == "mint-outage":
        alice.tempo.post("/_control/fail", json={"path": "/v1/mints", "count": 1, "status": 503})
    else:

        def post(journal: Any, also: Any = ()) -> Any:
            if journal.kind.value == "swap":
                raise RuntimeError("the function died after the burn and the mint, before its commit")
            return real_post(journal, also)

        monkeypatch.setattr(ledger, "post", post)
    cut_short = alice.call("POST", "swap", ALICE, {"quote_id": q["quote_id"]})
    assert cut_short["statusCode"] in (500, 503), cut_short["body"]
    monkeypatch.setattr(ledger, "post", real_post)
    assert alice.balance(ALICE, "USDC") == 160 * USDC and alice.balance(ALICE, "EURC") == 0
    sweeper = bootstrap.app().sweeper
    assert sweeper.sweep().due == 0  # not yet past its deadline
    alice.clock.advance(minutes=6)
    report = sweeper.sweep()
    assert report.due == 1 and report.outcomes["completed"] == 1, report
    assert len(alice.operations("tempo", "burn")) == 1
    assert [m["asset"] for m in alice.operations("tempo", "mint")].count("EURC") == 1
    assert alice.balance(ALICE, "EURC") == int(Decimal(str(q["to_amount"])) * USDC)
    assert alice.balance(ALICE, "USDC") == 160 * USDC
    swaps = [t for t in body_of(alice.call("GET", "transactions", ALICE))["data"]["transactions"]]
    assert [t["status"] for t in swaps if t["type"] == "swap"] == ["completed"]
    alice.clock.advance(minutes=10)
    assert sweeper.sweep().due == 0
    alice.assert_balanced()
