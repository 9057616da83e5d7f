"""Requests to pay on moto: an invoice addressed to the payer, paid from their balance on accept (counting
their limit, once however often accepted) or declined; events on both consumers' channels."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.consumer_rig import ALICE, BOB, CAROL, Rig, rig_fixture, servers  # noqa: F401

USDC = 1_000_000


@pytest.fixture
def people(rig: Rig) -> Rig:
    for who in (ALICE, BOB, CAROL):
        rig.onboard(who)
    rig.seed(BOB, "USDC", "100.00")
    return rig


def ask(rig: Rig, body: dict[str, Any], who: dict[str, str] = ALICE) -> dict[str, Any]:
    return rig.call("POST", "requests", who, body)


def events(rig: Rig, name: str) -> list[dict[str, Any]]:
    return [
        i
        for i in scan_all(rig.dynamodb)
        if i["pk"]["S"].startswith("OUTBOX#") and i["event_name"]["S"] == name
    ]


def test_a_request_is_an_invoice_to_the_payer_and_accept_pays_it_once(people: Rig) -> None:
    made = ask(people, {"from": "bob@example.com", "amount": "25.50", "currency": "USDC", "memo": "dinner"})
    assert made["statusCode"] == 201, made["body"]
    request = body_of(made)["data"]
    assert (request["from"], request["to"], request["amount"], request["status"]) == (
        "usr_bob",
        "usr_alice",
        "25.50",
        "pending",
    )
    assert request["number"].startswith("INV-") and request["id"].startswith("inv_")
    import functions.invoices.handler as invoices

    listed = invoices.lambda_handler(
        api_event("GET", "/api/v1/invoices", principal=BOB), FakeLambdaContext(function_name="invoices")
    )
    found = [i for i in body_of(listed)["data"]["invoices"] if i["id"] == request["id"]]
    assert found and found[0]["status"] == "sent" and found[0]["total_amount"] == "25.50"
    created = events(people, "request:created")
    assert len(created) == 1 and {c["S"] for c in created[0]["channels"]["L"]} == {
        "consumer:usr_alice",
        "consumer:usr_bob",
    }
    # Only the payer answers it.
    assert people.call("POST", f"requests/{request['id']}/accept", ALICE)["statusCode"] == 404
    accepted = people.call("POST", f"requests/{request['id']}/accept", BOB)
    assert accepted["statusCode"] == 200, accepted["body"]
    answer = body_of(accepted)["data"]
    assert answer["request"]["status"] == "accepted" and answer["transaction"]["amount"] == "25.50"
    assert people.balance(ALICE, "USDC") == 25_500_000 and people.balance(BOB, "USDC") == 74_500_000
    assert body_of(people.call("GET", "limits", BOB))["data"]["daily"]["used"] == "25.50"
    again = people.call("POST", f"requests/{request['id']}/accept", BOB)
    assert again["statusCode"] == 400 and body_of(again)["code"] == "invalid_state"
    assert people.balance(ALICE, "USDC") == 25_500_000
    invoice = invoices.lambda_handler(
        api_event("GET", f"/api/v1/invoices/{request['id']}", principal=BOB),
        FakeLambdaContext(function_name="invoices"),
    )
    assert body_of(invoice)["data"]["invoice"]["status"] == "paid"
    assert len(events(people, "request:accepted")) == 1
    people.assert_balanced()


def test_decline_voids_it_and_moves_nothing(people: Rig) -> None:
    request = body_of(ask(people, {"from": "usr_bob", "amount": "5", "currency": "USDC"}))["data"]
    before = [i for i in people.money_items() if i["pk"]["S"].startswith("LEDGER#")]
    declined = people.call("POST", f"requests/{request['id']}/decline", BOB)
    assert declined["statusCode"] == 200 and body_of(declined)["data"]["request"]["status"] == "declined"
    assert people.call("POST", f"requests/{request['id']}/accept", BOB)["statusCode"] == 400
    assert [i for i in people.money_items() if i["pk"]["S"].startswith("LEDGER#")] == before
    assert len(events(people, "request:declined")) == 1


def test_bad_requests_are_refused_and_an_unaffordable_accept_moves_nothing(people: Rig) -> None:
    for body, code in (
        ({"from": "usr_alice", "amount": "5", "currency": "USDC"}, "validation_error"),
        ({"from": "usr_nobody", "amount": "5", "currency": "USDC"}, "not_found"),
        ({"from": "usr_bob", "amount": "5.001", "currency": "USDC"}, "validation_error"),
        ({"from": "usr_bob", "amount": "0", "currency": "USDC"}, "validation_error"),
    ):
        response = ask(people, body)
        assert body_of(response)["code"] == code, (body, response["body"])
    big = body_of(ask(people, {"from": "usr_carol", "amount": "50", "currency": "USDC"}))["data"]
    before = [i for i in people.money_items() if i["pk"]["S"].startswith("LEDGER#")]
    short = people.call("POST", f"requests/{big['id']}/accept", CAROL)
    assert short["statusCode"] == 400 and body_of(short)["code"] == "insufficient_balance"
    assert [i for i in people.money_items() if i["pk"]["S"].startswith("LEDGER#")] == before
    assert people.call("POST", "requests/inv_nope/accept", CAROL)["statusCode"] == 404
