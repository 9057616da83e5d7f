"""The claim sweeper on moto with the Stripe, Tempo and Circle stand-ins: a claim left open by a crash (and
never retried, and no webhook redelivered) is finished or reversed once past its deadline, with the keys
of the path that opened it; before its deadline it is left alone; nothing stays in the claim index. That
includes a merchant's wallet refund left in flight and a Stripe card whose wallet never committed."""

from __future__ import annotations

from typing import Any

import pytest

import tests.integration.test_funding_api as funding_fixtures
import tests.integration.test_funding_faults as fault_fixtures
import tests.integration.test_pay_destroy as destroy_fixtures
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.auth import Principal
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate, LineItemInput
from shared.wallets.service import wallet_id_for_invoice
from tests.integration.conftest import MERCHANT, TABLE, FakeLambdaContext, api_event, body_of
from tests.integration.funding_invariants import plain
from tests.integration.test_funding_api import items
from tests.integration.test_funding_faults import (
    Crash,
    Rig,
    arm,
    cancelled,
    funding_commit,
    refund_recorded,
)
from tests.integration.test_pay_destroy import Paying, destroyed_completely, refunds
from tests.unit.stripe_standin.conftest import control

# The fault tests' rig (stand-ins with a webhook receiver, faults, crashes) and the destruction tests' rig.
servers = fault_fixtures.servers
rig = fault_fixtures.rig
funding_env = funding_fixtures.env
env = funding_fixtures.env
paying = destroy_fixtures.paying

SCHEDULED = {"detail-type": "Scheduled Event", "source": "aws.events"}


def sweep() -> dict[str, Any]:
    import functions.sweeper.handler as sweeper_fn

    return dict(sweeper_fn.lambda_handler(SCHEDULED, FakeLambdaContext(function_name="sweeper")))


def open_claims(rig: Rig) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for shard in range(4):
        page = rig.env.dynamodb.query(
            TableName=TABLE,
            IndexName="gsi3",
            KeyConditionExpression="gsi3pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CLAIMDUE#{shard}"}},
        )
        items.extend(plain(item) for item in page["Items"])
    return items


def wallet_status(rig: Rig, wallet_id: str) -> str:
    item = rig.env.dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "META"}}
    )["Item"]
    return str(item["status"]["S"])


@pytest.mark.parametrize("step", ["after_claim", "after_mint", "before_commit"])
def test_a_funding_left_minting_by_a_crash_is_funded_once_by_the_sweeper_alone(rig: Rig, step: str) -> None:
    wallet_id = rig.env.wallet()
    arm(rig, step)
    assert rig.fund(wallet_id) == "crashed"
    assert [c["entity"] for c in open_claims(rig)] == ["wallet_funding"]
    # Before its deadline the claim is the request's own: the sweeper leaves it alone.
    assert sweep()["due"] == 0
    rig.env.clock.advance(minutes=6)
    report = sweep()
    assert (report["due"], report["outcomes"]) == (1, {"funded": 1})
    assert wallet_status(rig, wallet_id) == "funded"
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (1, 1, 0)
    assert open_claims(rig) == []
    # The client's late retry finds the wallet funded by the same charge: nothing charged again.
    retried = rig.fund(wallet_id)
    assert retried["statusCode"] == 200 and rig.books().intents_charged == 1


def test_a_refund_left_half_done_is_finished_by_the_sweeper(rig: Rig) -> None:
    wallet_id = rig.env.wallet()

    def end_then_cancel() -> Exception:
        rig.end_wallet(wallet_id)
        return cancelled("ConditionalCheckFailed")()

    # The wallet ends just before the commit; the function dies right after recording the refund.
    rig.table.inject(funding_commit, "before", end_then_cancel)
    rig.table.inject(refund_recorded, "after", lambda: Crash("died after the record"))
    assert rig.fund(wallet_id) == "crashed"
    assert [c["entity"] for c in open_claims(rig)] == ["funding_refund"]
    assert rig.books().discrepancies != []
    rig.env.clock.advance(minutes=6)
    assert sweep()["outcomes"] == {"refunded": 1}
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (0, 1, 1)
    assert rig.env.chain(rig.env.tempo)["supply"].get("USDC", 0) == 0
    assert open_claims(rig) == []


def test_a_reversal_the_provider_refused_stays_open_until_it_can_finish(rig: Rig) -> None:
    wallet_id = rig.env.wallet()

    def end_then_cancel() -> Exception:
        rig.end_wallet(wallet_id)
        return cancelled("ConditionalCheckFailed")()

    rig.table.inject(funding_commit, "before", end_then_cancel)
    rig.table.inject(refund_recorded, "after", lambda: Crash("died after the record"))
    assert rig.fund(wallet_id) == "crashed"
    rig.env.clock.advance(minutes=6)
    for client in (rig.env.tempo, rig.env.circle):
        client.post("/_control/fail", json={"mode": "error", "status": 503, "probability": 1.0})
    report = sweep()
    assert report["outcomes"] == {"failed": 1} and report["left_open"] == 1
    assert len(open_claims(rig)) == 1
    for client in (rig.env.tempo, rig.env.circle):
        client.post("/_control/clear_faults")
    rig.env.clock.advance(minutes=10)  # the breaker's cooldown
    assert sweep()["outcomes"] == {"refunded": 1}
    assert rig.books().discrepancies == [] and open_claims(rig) == []


def test_a_bank_payment_whose_webhook_never_comes_is_funded_by_the_sweeper(rig: Rig) -> None:
    wallet_id = rig.env.wallet()
    response = rig.fund(wallet_id, method="pm_usBankAccount")
    assert response["statusCode"] == 202
    intent_id = body_of(response)["data"]["payment_intent_id"]
    rig.env.clock.advance(minutes=6)
    # Still processing at its deadline: looked at again later, nothing changes.
    assert sweep()["outcomes"] == {"postponed": 1}
    assert [c["entity"] for c in open_claims(rig)] == ["funding_processing"]
    control(rig.env.stripe, "POST", f"/_control/payment_intents/{intent_id}/complete", {})
    rig.env.clock.advance(minutes=16)
    assert sweep()["outcomes"] == {"funded": 1}
    assert wallet_status(rig, wallet_id) == "funded"
    books = rig.books()
    assert books.discrepancies == [] and (books.journals, books.intents_charged) == (1, 1)
    assert open_claims(rig) == []


@pytest.mark.parametrize("fail_on", ["payments", "cards"])
def test_a_destruction_stuck_between_steps_is_finished_by_the_sweeper_alone(
    paying: Paying, fail_on: str
) -> None:
    at = paying.env
    wallet_id = paying.funded_wallet(ttl=60)
    at.clock.advance(seconds=61)
    # The Stripe refund (or the card's cancellation) fails once, and neither the schedule's retries nor
    # the lease's TTL record come back: only the sweeper is left to finish it.
    getattr(paying, fail_on).fail_on = "refund" if fail_on == "payments" else "deactivate_card"
    with pytest.raises(Exception, match="injected failure"):
        paying.schedule_fires(wallet_id)
    assert paying.wallet(wallet_id)["status"]["S"] == "expired"
    due = [i for i in destruction_items(at, wallet_id) if "gsi3pk" in i]
    assert len(due) == 1
    assert sweep()["due"] == 0
    at.clock.advance(minutes=6)
    assert sweep()["outcomes"] == {"destroyed": 1}
    facts = destroyed_completely(paying, wallet_id)
    assert facts["finished_by"] == "sweep"
    assert refunds(at) == 1
    assert [i for i in destruction_items(at, wallet_id) if "gsi3pk" in i] == []


def destruction_items(at: Any, wallet_id: str) -> list[dict[str, Any]]:
    return [i for i in items(at, f"WALLET#{wallet_id}") if i["sk"]["S"] == "DESTRUCTION"]


# -- a card whose wallet never committed (issue 11: "a Stripe card with no wallet") ---------------------


def wallet_commit(name: str, kwargs: dict[str, Any]) -> bool:
    """The wallet creation's transaction (the one that puts the wallet's META)."""
    if name != "transact_write_items":
        return False
    puts = [op["Put"]["Item"] for op in kwargs["TransactItems"] if "Put" in op]
    return any(item["sk"]["S"] == "META" and item["pk"]["S"].startswith("WALLET#") for item in puts)


def issuing_cards(rig: Rig) -> dict[str, str]:
    """Every card the Stripe stand-in issued, by id, with its status."""
    with rig.env.stripe.standin.store.lock:
        objects = list(rig.env.stripe.standin.store.objects.values())
    return {o["id"]: o["status"] for o in objects if o.get("object") == "issuing.card"}


def create_wallet(rig: Rig, invoice_id: str) -> Any:
    """create-from-invoice's response, or "crashed" when the function died."""
    event = api_event("POST", "/api/v2/invoice-wallets/create-from-invoice", body={"invoice_id": invoice_id})
    try:
        response = rig.env.create_fn.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
    except Crash:
        return "crashed"
    if response["statusCode"] == 500:
        return "crashed"
    return response


def an_invoice(rig: Rig) -> str:
    service = InvoiceService(DynamoDBInvoiceRepository(rig.env.dynamodb, TABLE), rig.env.clock)
    who = Principal(MERCHANT["sub"], MERCHANT["tenant_id"], frozenset({"merchant"}))
    body = {
        "customer_id": "cus_alice",
        "currency": "USD",
        "line_items": [LineItemInput(description="Work", quantity=1, unit_price="40.00")],
        "due_date": "2030-02-01",
    }
    return service.create(who, InvoiceCreate.model_validate(body)).id


def wallet_exists(rig: Rig, wallet_id: str) -> bool:
    key = {"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "META"}}
    return "Item" in rig.env.dynamodb.get_item(TableName=TABLE, Key=key)


def test_a_card_whose_wallet_never_committed_is_cancelled_and_a_retry_gets_a_new_one(rig: Rig) -> None:
    invoice_id = an_invoice(rig)
    wallet_id = wallet_id_for_invoice(MERCHANT["tenant_id"], invoice_id)
    # The function dies between Stripe's card and the wallet's commit.
    rig.table.inject(wallet_commit, "before", lambda: Crash("died before the wallet commit"))
    assert create_wallet(rig, invoice_id) == "crashed"
    assert not wallet_exists(rig, wallet_id)
    [(orphan, status)] = issuing_cards(rig).items()
    assert status == "active"
    assert [c["entity"] for c in open_claims(rig)] == ["card_intent"]
    assert sweep()["due"] == 0  # the creation's own until its deadline
    rig.env.clock.advance(minutes=6)
    assert sweep()["outcomes"] == {"card_cancelled": 1}
    assert issuing_cards(rig) == {orphan: "canceled"}
    assert open_claims(rig) == []
    assert sweep()["due"] == 0
    # The merchant's retry makes the wallet with a new card, never the cancelled one replayed.
    retried = create_wallet(rig, invoice_id)
    assert retried != "crashed" and retried["statusCode"] == 201, retried
    card = body_of(retried)["data"]["card"]["id"]
    assert card != orphan and issuing_cards(rig) == {orphan: "canceled", card: "active"}
    assert open_claims(rig) == []
    rig.env.clock.advance(minutes=6)
    assert sweep()["due"] == 0 and issuing_cards(rig)[card] == "active"


def test_a_sweep_that_died_after_fencing_is_finished_by_the_next(rig: Rig) -> None:
    invoice_id = an_invoice(rig)
    rig.table.inject(wallet_commit, "before", lambda: Crash("died before the wallet commit"))
    assert create_wallet(rig, invoice_id) == "crashed"
    rig.env.clock.advance(minutes=6)
    # Stripe fails the cancellation once: the intent is fenced, its cancellation stays due.
    control(
        rig.env.stripe, "POST", "/_control/fail", {"path": "/v1/issuing/cards/", "count": 1, "status": 500}
    )
    assert sweep()["outcomes"] == {"failed": 1}
    assert [c["entity"] for c in open_claims(rig)] == ["card_cancel"]
    assert list(issuing_cards(rig).values()) == ["active"]
    assert sweep()["outcomes"] == {"card_cancelled": 1}
    assert list(issuing_cards(rig).values()) == ["canceled"] and open_claims(rig) == []


def test_a_committed_wallet_leaves_no_card_intent_and_its_card_alone(rig: Rig) -> None:
    wallet_id = rig.env.wallet()
    assert open_claims(rig) == [] and wallet_exists(rig, wallet_id)
    rig.env.clock.advance(minutes=6)
    assert sweep()["due"] == 0
    assert list(issuing_cards(rig).values()) == ["active"]


# -- a merchant's wallet refund left in flight ----------------------------------------------------------


def wallet_refund(rig: Rig, wallet_id: str) -> Any:
    event = api_event("POST", f"/api/v2/invoice-wallets/{wallet_id}/refund")
    try:
        response = rig.env.fund_fn.lambda_handler(event, FakeLambdaContext(function_name="fund"))
    except Crash:
        return "crashed"
    return "crashed" if response["statusCode"] == 500 else response


def refund_commit(name: str, kwargs: dict[str, Any]) -> bool:
    return name == "transact_write_items" and "wallet-refund-" in str(kwargs["TransactItems"])


@pytest.mark.parametrize("step", ["after_begin", "after_burn", "after_stripe_refund", "before_commit"])
def test_a_wallet_refund_left_in_flight_is_finished_once_by_the_sweeper(rig: Rig, step: str) -> None:
    wallet_id = rig.env.wallet()
    assert rig.fund(wallet_id)["statusCode"] == 200
    if step == "after_begin":
        rig.table.inject(refund_begun, "after", lambda: Crash("died after the claim"))
    elif step == "after_burn":
        for provider in rig.providers.values():
            provider.crash_after.add("burn")
    elif step == "after_stripe_refund":
        rig.payments.crash_after.add("refund")
    else:
        rig.table.inject(refund_commit, "before", lambda: Crash("died before the commit"))
    assert wallet_refund(rig, wallet_id) == "crashed"
    for provider in rig.providers.values():
        provider.crash_after.clear()
    assert [c["entity"] for c in open_claims(rig)] == ["wallet_refund"]
    assert sweep()["due"] == 0
    rig.env.clock.advance(minutes=6)
    assert sweep()["outcomes"] == {"refunded": 1}
    assert wallet_status(rig, wallet_id) == "active"
    books = rig.books()
    assert books.discrepancies == []
    assert (books.journals, books.intents_charged, books.refunds) == (2, 1, 1)
    assert rig.env.chain(rig.env.tempo)["supply"].get("USDC", 0) == 0
    assert open_claims(rig) == []


def refund_begun(name: str, kwargs: dict[str, Any]) -> bool:
    if name != "transact_write_items":
        return False
    puts = [op["Put"]["Item"] for op in kwargs["TransactItems"] if "Put" in op]
    return any(item["sk"]["S"] == "REFUND" for item in puts)
