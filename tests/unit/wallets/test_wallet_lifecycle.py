"""Transform, reads and countdown, stats arithmetic, and the key vault (open, erase) over fakes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto.envelope import KeyMaterialErased
from shared.errors import Forbidden, InvalidState, NotFound
from shared.models.invoice import InvoiceStatus
from shared.models.wallet import WalletMode, WalletStatus
from shared.wallets.keys import WalletKeyVault
from shared.wallets.reads import WalletQueries
from shared.wallets.stats import creation_deltas, status_change_deltas, summarize
from tests.unit.wallets.fakes import ADMIN, CUSTOMER, MERCHANT, NOW, OTHER_TENANT, STRANGER, World, invoice

INVOICE_ID = "inv_" + "a" * 24


def created(world: World, **kwargs: object) -> str:
    return world.service.create_for_invoice(MERCHANT, INVOICE_ID, **kwargs).wallet.wallet_id  # type: ignore[arg-type]


def queries(world: World) -> WalletQueries:
    return WalletQueries(world.wallets, world.cards, world.clock)


# -- transform ---------------------------------------------------------------------------------------
def test_transform_makes_an_ephemeral_wallet_persistent_and_cancels_its_destruction() -> None:
    world = World()
    wallet_id = created(world)
    result = world.service.transform(MERCHANT, wallet_id)
    assert result == {
        "wallet_id": wallet_id,
        "new_type": "persistent",
        "features": ["invoice_payment", "virtual_card", "recurring_payments", "multi_currency"],
    }
    wallet = world.wallets.wallets[wallet_id]
    assert (wallet.wallet_type, wallet.expires_at, wallet.ttl_seconds, wallet.version) == (
        WalletMode.PERSISTENT,
        None,
        None,
        2,
    )
    assert world.wallets.leases == {} and world.scheduler.schedules == {}
    counters = world.wallets.counters["tenant-a"]
    assert (counters["mode_ephemeral"], counters["mode_persistent"], counters["created_ephemeral"]) == (
        0,
        1,
        1,
    )
    event = [r for r in world.wallets.records if r.get("event_name") == "wallet:transformed"]
    assert len(event) == 1 and f"countdown:{wallet_id}" in event[0]["channels"]


def test_transform_twice_answers_the_same_and_writes_once() -> None:
    world = World()
    wallet_id = created(world)
    first = world.service.transform(MERCHANT, wallet_id)
    writes = world.wallets.writes
    assert world.service.transform(MERCHANT, wallet_id) == first
    assert world.wallets.writes == writes
    # The repeat also finishes a schedule deletion a failed first call may have left behind.
    assert world.scheduler.cancelled == [wallet_id, wallet_id]


def test_transform_of_an_adaptive_wallet_touches_no_schedule() -> None:
    world = World(invoice(total_amount=Decimal("1500.00"), subtotal=Decimal("1500.00")))
    wallet_id = created(world)
    assert world.wallets.wallets[wallet_id].wallet_type is WalletMode.ADAPTIVE
    world.service.transform(MERCHANT, wallet_id)
    assert world.wallets.wallets[wallet_id].wallet_type is WalletMode.PERSISTENT
    assert world.scheduler.cancelled == []


def test_an_expired_wallet_cannot_be_transformed_even_before_any_trigger_ran() -> None:
    world = World()
    wallet_id = created(world, ttl_seconds=60)
    world.clock.advance(seconds=60)
    with pytest.raises(InvalidState):
        world.service.transform(MERCHANT, wallet_id)
    assert world.wallets.wallets[wallet_id].wallet_type is WalletMode.EPHEMERAL


@pytest.mark.parametrize("status", [WalletStatus.DESTROYED, WalletStatus.DESTROYING, WalletStatus.EXPIRED])
def test_a_finished_wallet_cannot_be_transformed(status: WalletStatus) -> None:
    world = World()
    wallet_id = created(world)
    world.wallets.wallets[wallet_id] = world.wallets.wallets[wallet_id].model_copy(update={"status": status})
    with pytest.raises(InvalidState):
        world.service.transform(MERCHANT, wallet_id)


def test_transform_is_404_for_other_tenants_and_strangers() -> None:
    world = World()
    wallet_id = created(world)
    for principal in (OTHER_TENANT, STRANGER):
        with pytest.raises(NotFound):
            world.service.transform(principal, wallet_id)
    assert world.wallets.wallets[wallet_id].wallet_type is WalletMode.EPHEMERAL


# -- reads and countdown -----------------------------------------------------------------------------
def test_countdown_counts_down_and_a_past_expiry_reads_expired_at_once() -> None:
    world = World()
    wallet_id = created(world, ttl_seconds=600)
    read = queries(world)
    assert read.countdown(wallet_id) == {
        "wallet_id": wallet_id,
        "expires_at": "2030-01-01T12:10:00.000Z",
        "remaining_seconds": 600,
        "status": "active",
        "is_expired": False,
        "server_time": "2030-01-01T12:00:00.000Z",
    }
    world.clock.advance(seconds=599, microseconds=500_000)
    assert read.countdown(wallet_id)["remaining_seconds"] == 0
    assert read.countdown(wallet_id)["is_expired"] is False
    world.clock.advance(seconds=3600)
    late = read.countdown(wallet_id)
    assert (late["remaining_seconds"], late["status"], late["is_expired"]) == (0, "expired", True)
    assert world.wallets.wallets[wallet_id].status is WalletStatus.ACTIVE
    assert read.get(MERCHANT, wallet_id).to_api()["wallet"]["status"] == "expired"


@pytest.mark.parametrize("status", [WalletStatus.DESTROYED, WalletStatus.DESTROYING, WalletStatus.EXPIRED])
def test_a_finished_wallet_has_no_time_left_in_countdown_and_status(status: WalletStatus) -> None:
    world = World()
    wallet_id = created(world, ttl_seconds=600)
    world.wallets.wallets[wallet_id] = world.wallets.wallets[wallet_id].model_copy(update={"status": status})
    world.clock.advance(seconds=10)
    read = queries(world)
    countdown, state = read.countdown(wallet_id), read.status(MERCHANT, wallet_id)
    assert countdown["remaining_seconds"] == 0 and state["remaining_seconds"] == 0
    assert countdown["is_expired"] is state["is_expired"] is (status is not WalletStatus.DESTROYING)
    assert read.get(MERCHANT, wallet_id).to_api()["wallet"]["remaining_seconds"] == 0


def test_countdown_is_only_for_ephemeral_wallets() -> None:
    world = World()
    wallet_id = created(world, mode_override=WalletMode.PERSISTENT)
    with pytest.raises(NotFound):
        queries(world).countdown(wallet_id)
    with pytest.raises(NotFound):
        queries(world).countdown("wal_" + "0" * 24)
    with pytest.raises(NotFound):
        queries(world).countdown("../etc")


def test_get_and_by_invoice_respect_tenant_and_customer() -> None:
    world = World()
    wallet_id = created(world)
    read = queries(world)
    assert read.get(CUSTOMER, wallet_id).wallet.wallet_id == wallet_id
    assert read.by_invoice(ADMIN, INVOICE_ID).wallet.wallet_id == wallet_id
    for principal in (OTHER_TENANT, STRANGER):
        with pytest.raises(NotFound):
            read.get(principal, wallet_id)
        with pytest.raises(NotFound):
            read.by_invoice(principal, INVOICE_ID)


def test_the_card_remaining_limit_comes_from_the_issuer_and_degrades_to_null() -> None:
    world = World()
    wallet_id = created(world)
    card_id = world.wallets.cards[wallet_id].card_id
    world.cards.spent[card_id] = 5_000
    read = queries(world)
    assert read.get(MERCHANT, wallet_id).to_api()["card"]["remaining_limit"] == "200.00"
    world.cards.down = True
    assert read.get(MERCHANT, wallet_id).to_api()["card"]["remaining_limit"] is None


def test_status_shows_the_countdown() -> None:
    world = World()
    wallet_id = created(world, ttl_seconds=120)
    world.clock.advance(seconds=20)
    status = queries(world).status(CUSTOMER, wallet_id)
    assert (status["status"], status["remaining_seconds"], status["is_expired"], status["balance"]) == (
        "active",
        100,
        False,
        "0.00",
    )


def test_stats_and_active_are_admin_only() -> None:
    world = World()
    created(world)
    with pytest.raises(Forbidden):
        queries(world).stats(MERCHANT)
    with pytest.raises(Forbidden):
        queries(world).active(MERCHANT, 10, None)
    page, _ = queries(world).active(ADMIN, 10, None)
    assert len(page.items) == 1


# -- stats arithmetic --------------------------------------------------------------------------------
def test_stats_summary_arithmetic() -> None:
    world = World(
        invoice(),
        invoice(id="inv_" + "b" * 24),
        invoice(id="inv_" + "c" * 24, recurring=True, payment_type="recurring"),
    )
    world.service.create_for_invoice(MERCHANT, INVOICE_ID, ttl_seconds=600)
    world.service.create_for_invoice(MERCHANT, "inv_" + "b" * 24, ttl_seconds=1001)
    world.service.create_for_invoice(MERCHANT, "inv_" + "c" * 24)
    world.service.transform(MERCHANT, world.wallets.unique["inv_" + "b" * 24][0])
    stats = queries(world).stats(ADMIN)
    assert stats["by_mode"] == {"ephemeral": 1, "adaptive": 0, "persistent": 2}
    assert stats["by_status"]["active"] == 3 and stats["by_status"]["destroyed"] == 0
    assert (stats["created_total"], stats["destroyed_total"]) == (3, 0)
    assert stats["ephemeral_share"] == "0.6667"
    assert stats["average_ttl_seconds"] == 801  # (600 + 1001) / 2 = 800.5, half up


def test_stats_of_a_tenant_without_wallets() -> None:
    summary = summarize({})
    assert (summary["created_total"], summary["ephemeral_share"], summary["average_ttl_seconds"]) == (
        0,
        "0.0000",
        None,
    )


def test_status_change_deltas_keep_counts_true() -> None:
    world = World()
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID).wallet
    counters = creation_deltas(wallet)
    for name, delta in status_change_deltas(WalletStatus.ACTIVE, WalletStatus.DESTROYED).items():
        counters[name] = counters.get(name, 0) + delta
    summary = summarize(counters)
    assert summary["by_status"]["active"] == 0 and summary["by_status"]["destroyed"] == 1
    assert summary["destroyed_total"] == 1


# -- keys --------------------------------------------------------------------------------------------
def test_keys_open_to_the_wallet_addresses_and_erase_makes_them_unopenable() -> None:
    world = World()
    wallet = world.service.create_for_invoice(MERCHANT, INVOICE_ID).wallet
    vault = WalletKeyVault(world.wallets, world.kms, world.clock)
    keys = vault.open(wallet.wallet_id)
    assert (keys.evm_address, keys.solana_address) == (wallet.evm_address, wallet.solana_address)
    assert keys.evm_private_key.hex() not in repr(keys)
    vault.erase(wallet.wallet_id, wallet.tenant_id, "system")
    with pytest.raises(KeyMaterialErased):
        vault.open(wallet.wallet_id)
    vault.erase(wallet.wallet_id, wallet.tenant_id, "system")
    erasures = [r for r in world.wallets.records if r.get("action") == "wallet.keys_erased"]
    assert len(erasures) == 1


def test_keys_moved_to_another_wallet_do_not_open() -> None:
    world = World(invoice(), invoice(id="inv_" + "b" * 24))
    first = world.service.create_for_invoice(MERCHANT, INVOICE_ID).wallet.wallet_id
    second = world.service.create_for_invoice(MERCHANT, "inv_" + "b" * 24).wallet.wallet_id
    world.wallets.keys[second] = world.wallets.keys[first]
    # The fake KMS, like KMS, refuses to unwrap a data key under another wallet's encryption context.
    with pytest.raises(InvalidTag):
        WalletKeyVault(world.wallets, world.kms, world.clock).open(second)


def test_the_invoice_status_does_not_matter_once_the_wallet_exists() -> None:
    world = World()
    wallet_id = created(world)
    world.invoices.items[("tenant-a", INVOICE_ID)] = invoice(
        status=InvoiceStatus.PAID, amount_paid=Decimal(250)
    )
    again = world.service.create_for_invoice(MERCHANT, INVOICE_ID)
    assert not again.is_new and again.wallet.wallet_id == wallet_id
    assert again.now == NOW + timedelta(0)
