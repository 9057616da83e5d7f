"""Wallet creation with fakes of every port: modes, TTL, access, one wallet per invoice, failures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from shared.crypto.keys import is_checksum_address
from shared.errors import DependencyUnavailable, Forbidden, InvalidState, NotFound
from shared.models.invoice import InvoiceStatus
from shared.models.wallet import WalletMode
from shared.wallets.ports import NewWallet
from shared.wallets.service import WalletService, WalletView, wallet_id_for_invoice
from tests.unit.wallets.fakes import (
    ADMIN,
    CUSTOMER,
    MERCHANT,
    NOW,
    OTHER_TENANT,
    PROFILE,
    STRANGER,
    World,
    invoice,
)

INVOICE_ID = "inv_" + "a" * 24


def test_a_one_time_invoice_gets_an_ephemeral_wallet_with_card_schedule_lease_and_records() -> None:
    world = World()
    view = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    wallet = view.wallet
    assert view.is_new and wallet.wallet_type is WalletMode.EPHEMERAL
    assert wallet.wallet_id == wallet_id_for_invoice("tenant-a", INVOICE_ID)
    assert wallet.expires_at == NOW + timedelta(hours=24) and wallet.ttl_seconds == 86_400
    assert is_checksum_address(wallet.evm_address) and len(wallet.solana_address) >= 32
    assert (wallet.spending_limit, wallet.currency, wallet.customer_id) == (
        Decimal("250.00"),
        "USD",
        "cus_alice",
    )
    assert world.scheduler.schedules == {wallet.wallet_id: NOW + timedelta(hours=24)}
    assert world.wallets.leases == {wallet.wallet_id: int((NOW + timedelta(hours=24)).timestamp())}
    create_card = [args for name, args in world.cards.calls if name == "create_card"]
    assert create_card == [(wallet.wallet_id, "ich_1", 25_000, "USD", f"card-{wallet.wallet_id}")]
    assert (
        view.card is not None and view.card.card_id == wallet.card_id and view.remaining_limit_minor == 25_000
    )
    events = [
        (r["event_name"], r["channels"], r["data"]["tenant_id"])
        for r in world.wallets.records
        if "event_name" in r
    ]
    channels = [f"invoice:{INVOICE_ID}", "admin"]
    assert events == [("wallet:created", channels, "tenant-a"), ("invoice.created", channels, "tenant-a")]
    assert [r["action"] for r in world.wallets.records if "action" in r] == ["wallet.created"]
    assert world.wallets.counters["tenant-a"] == {
        "created_total": 1,
        "created_ephemeral": 1,
        "mode_ephemeral": 1,
        "status_active": 1,
        "ttl_seconds_total": 86_400,
        "ttl_wallets": 1,
        "live_ephemeral": 1,
    }
    api = view.to_api()
    assert api["wallet"]["status"] == "active" and api["wallet"]["provider"] is None
    assert api["card"]["spending_limit"] == "250.00" and api["card"]["card_type"] == "virtual"
    assert "number" not in api["card"] and "cvc" not in api["card"]


def test_the_wallet_id_is_derived_from_tenant_and_invoice() -> None:
    first = wallet_id_for_invoice("tenant-a", INVOICE_ID)
    assert first == wallet_id_for_invoice("tenant-a", INVOICE_ID)
    assert first != wallet_id_for_invoice("tenant-b", INVOICE_ID)
    assert first != wallet_id_for_invoice("tenant-a", "inv_" + "b" * 24)
    assert first.startswith("wal_") and len(first) == 28 and first[4:].isalnum() and first[4:].islower()


def test_the_same_invoice_again_returns_the_same_wallet_without_outside_calls() -> None:
    world = World()
    first = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    calls, generated = len(world.cards.calls), world.kms.generated
    again = world.service.create_for_invoice(CUSTOMER, INVOICE_ID)
    assert not again.is_new and again.wallet == first.wallet
    assert world.kms.generated == generated and world.cards.calls[calls:] == []
    assert world.wallets.writes == 1


@pytest.mark.parametrize(
    ("overrides", "override", "mode"),
    [
        ({}, None, WalletMode.EPHEMERAL),
        ({"recurring": True, "payment_type": "recurring"}, None, WalletMode.PERSISTENT),
        ({"total_amount": Decimal("1500.00"), "subtotal": Decimal("1500.00")}, None, WalletMode.ADAPTIVE),
        ({"recurring": True, "payment_type": "recurring"}, WalletMode.EPHEMERAL, WalletMode.EPHEMERAL),
        ({}, WalletMode.PERSISTENT, WalletMode.PERSISTENT),
    ],
)
def test_mode_comes_from_the_score_unless_overridden(
    overrides: dict[str, object], override: WalletMode | None, mode: WalletMode
) -> None:
    world = World(invoice(**overrides))
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID, mode_override=override).wallet
    assert wallet.wallet_type is mode
    if mode is WalletMode.EPHEMERAL:
        assert wallet.expires_at is not None and wallet.wallet_id in world.scheduler.schedules
        assert wallet.wallet_id in world.wallets.leases
    else:
        assert wallet.expires_at is None and wallet.ttl_seconds is None
        assert world.scheduler.schedules == {} and world.wallets.leases == {}
        assert "ttl_wallets" not in world.wallets.counters["tenant-a"]


def test_an_explicit_ttl_sets_the_expiry_to_the_second() -> None:
    world = World()
    world.clock.advance(microseconds=700_000)
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID, ttl_seconds=600).wallet
    assert wallet.expires_at == NOW + timedelta(seconds=600) and wallet.ttl_seconds == 600


def test_an_earlier_schedule_of_the_same_wallet_fixes_its_expiry() -> None:
    world = World()
    wallet_id = wallet_id_for_invoice("tenant-a", INVOICE_ID)
    world.scheduler.schedules[wallet_id] = NOW + timedelta(seconds=3600)
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID).wallet
    assert wallet.expires_at == NOW + timedelta(seconds=3600) and wallet.ttl_seconds == 3600


def test_a_leftover_schedule_about_to_fire_is_replaced() -> None:
    world = World()
    wallet_id = wallet_id_for_invoice("tenant-a", INVOICE_ID)
    world.scheduler.schedules[wallet_id] = NOW + timedelta(seconds=5)
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID).wallet
    assert world.scheduler.cancelled == [wallet_id]
    assert wallet.expires_at == world.scheduler.schedules[wallet_id] == NOW + timedelta(hours=24)


@pytest.mark.parametrize("principal", [MERCHANT, ADMIN, CUSTOMER])
def test_merchant_admin_and_the_invoice_customer_may_create(principal: object) -> None:
    world = World()
    assert world.service.create_for_invoice(principal, INVOICE_ID).is_new  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("principal", "invoice_id", "stored"),
    [
        (STRANGER, INVOICE_ID, {}),
        (OTHER_TENANT, INVOICE_ID, {}),
        (MERCHANT, "inv_" + "z" * 24, {}),
        (MERCHANT, "not-an-invoice", {}),
        (MERCHANT, INVOICE_ID, {"deleted_at": NOW}),
    ],
)
def test_invisible_invoices_are_404_and_write_nothing(
    principal: object, invoice_id: str, stored: dict[str, object]
) -> None:
    world = World(invoice(**stored))
    before = world.wallets.snapshot()
    with pytest.raises(NotFound):
        world.service.create_for_invoice(principal, invoice_id)  # type: ignore[arg-type]
    assert world.wallets.snapshot() == before and world.cards.calls == [] and world.kms.generated == 0


def test_a_merchants_wallet_for_a_draft_sends_the_invoice_first() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))
    view = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert view.is_new and world.finalizer.sent == [INVOICE_ID]
    assert world.invoices.items[("tenant-a", INVOICE_ID)].status is InvoiceStatus.SENT
    again = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert not again.is_new and world.finalizer.sent == [INVOICE_ID]


def test_a_failed_creation_leaves_the_draft_a_draft() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))
    world.cards.down = True
    with pytest.raises(DependencyUnavailable):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.finalizer.sent == [] and world.wallets.wallets == {}
    assert world.invoices.items[("tenant-a", INVOICE_ID)].status is InvoiceStatus.DRAFT


def test_a_draft_sent_meanwhile_by_a_concurrent_creation_is_taken_as_sent() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))

    def rival_sends_first() -> None:
        world.finalizer.before_send = None
        world.finalizer.send(MERCHANT, INVOICE_ID)

    world.finalizer.before_send = rival_sends_first
    assert world.service.create_for_invoice(MERCHANT, INVOICE_ID).is_new
    assert world.invoices.items[("tenant-a", INVOICE_ID)].status is InvoiceStatus.SENT


def test_a_draft_voided_meanwhile_gets_no_wallet() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))

    def merchant_voids_first() -> None:
        key = ("tenant-a", INVOICE_ID)
        world.invoices.items[key] = world.invoices.items[key].model_copy(
            update={"status": InvoiceStatus.VOID}
        )

    world.finalizer.before_send = merchant_voids_first
    with pytest.raises(InvalidState):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.wallets.wallets == {}


def test_to_its_customer_a_draft_is_404_and_nothing_is_sent_or_made() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))
    with pytest.raises(NotFound):
        world.service.create_for_invoice(CUSTOMER, INVOICE_ID)
    assert world.finalizer.sent == [] and world.wallets.wallets == {} and world.cards.calls == []
    assert world.invoices.items[("tenant-a", INVOICE_ID)].status is InvoiceStatus.DRAFT


def test_an_admin_may_not_send_a_draft_through_its_wallet() -> None:
    world = World(invoice(status=InvoiceStatus.DRAFT))
    with pytest.raises(Forbidden):
        world.service.create_for_invoice(ADMIN, INVOICE_ID)
    assert world.finalizer.sent == [] and world.wallets.wallets == {}


@pytest.mark.parametrize(
    "stored",
    [
        {"status": InvoiceStatus.VOID},
        {"status": InvoiceStatus.PAID, "amount_paid": Decimal("250.00")},
        {"amount_paid": Decimal("250.00")},
    ],
)
def test_void_paid_or_settled_invoices_are_invalid_state(stored: dict[str, object]) -> None:
    world = World(invoice(**stored))
    with pytest.raises(InvalidState):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.wallets.wallets == {} and world.cards.calls == []


def test_kms_down_is_503_before_any_card_or_write() -> None:
    world = World()
    world.kms.down = True
    before = world.wallets.snapshot()
    with pytest.raises(DependencyUnavailable):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.wallets.snapshot() == before and world.cards.calls == [] and world.scheduler.schedules == {}


def test_stripe_down_is_503_with_nothing_written_or_scheduled() -> None:
    world = World()
    world.cards.down = True
    before = world.wallets.snapshot()
    with pytest.raises(DependencyUnavailable):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.wallets.snapshot() == before and world.scheduler.schedules == {}


def test_scheduler_down_is_503_with_nothing_written() -> None:
    world = World()
    world.scheduler.down = True
    before = world.wallets.snapshot()
    with pytest.raises(DependencyUnavailable):
        world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert world.wallets.snapshot() == before


def test_a_lost_uniqueness_race_returns_the_winner_with_the_same_card() -> None:
    world = World()
    rival = WalletService(
        world.wallets,
        world.invoices,
        world.kms,
        world.cards,
        world.scheduler,
        world.clock,
        PROFILE,
        world.finalizer,
    )
    winners: list[WalletView] = []

    def rival_commits_first(_: NewWallet) -> None:
        winners.append(rival.create_for_invoice(ADMIN, INVOICE_ID))

    world.wallets.before_create = rival_commits_first
    loser = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    winner = winners[0]
    assert winner.is_new and not loser.is_new
    assert loser.wallet == winner.wallet
    assert len(world.wallets.wallets) == 1 and world.wallets.writes == 1 and len(world.cards.cards) == 1
    assert loser.card is not None and winner.card is not None and loser.card.card_id == winner.card.card_id
    assert world.wallets.counters["tenant-a"]["created_total"] == 1


def test_a_concurrent_identical_card_request_is_waited_for() -> None:
    world = World()
    world.cards.in_progress_answers = 2
    assert world.service.create_for_invoice(MERCHANT, INVOICE_ID).is_new
    assert world.backoffs == [0, 1]


def test_the_tenant_cardholder_is_created_once() -> None:
    world = World(invoice(), invoice(id="inv_" + "b" * 24))
    world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    world.service.create_for_invoice(MERCHANT, "inv_" + "b" * 24)
    assert [args for name, args in world.cards.calls if name == "create_cardholder"] == [
        "cardholder-tenant-a"
    ]
    assert world.wallets.holders == {"tenant-a": "ich_1"}


def test_a_standalone_wallet_has_no_invoice_and_a_random_id() -> None:
    world = World()
    first = world.service.create_standalone(CUSTOMER, "p2p", 300, None)
    second = world.service.create_standalone(MERCHANT, "payroll", 60, Decimal("12.34"))
    assert first.wallet.wallet_id != second.wallet.wallet_id
    assert first.wallet.invoice_id is None and world.wallets.unique == {}
    assert first.card is None and first.wallet.customer_id == "cus_alice" and first.wallet.purpose == "p2p"
    assert (
        second.card is not None
        and second.card.spending_limit_minor == 1234
        and second.wallet.customer_id is None
    )
    assert first.wallet.expires_at == NOW + timedelta(seconds=300)
    assert set(world.scheduler.schedules) == {first.wallet.wallet_id, second.wallet.wallet_id}
    assert [r["channels"] for r in world.wallets.records if "event_name" in r] == [["admin"], ["admin"]]
