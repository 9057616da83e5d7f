"""Undoing a charge that cannot fund its wallet: burn the mint, refund once, survive a crash anywhere."""

from __future__ import annotations

import pytest

from shared.errors import InvalidState, ProviderUnavailable
from shared.funding.ports import ClaimState, Reversal
from shared.funding.refunds import FundedMeanwhile, FundingRefunds, ReversalPending
from shared.funding.service import mint_key, refund_key, unmint_key
from shared.models.wallet import WalletStatus
from shared.providers.errors import ProviderCallFailed
from shared.providers.models import Asset
from shared.stripe_events.service import payment_of
from tests.unit.funding.fakes import Crash
from tests.unit.funding.test_funding import MERCHANT, NOW, WALLET_ID, World

ADDRESS = "0x" + "1" * 40
MINTED = 251_000_000  # 251.00 USD as USDC base units


def end_the_wallet_during_the_commit(world: World, crash: bool = False) -> None:
    """The destroy trigger wins the race: the wallet is destroyed after the mint, before the commit."""

    def destroy() -> None:
        world.store.wallets[WALLET_ID] = world.wallet.model_copy(
            update={"status": WalletStatus.DESTROYED, "version": world.wallet.version + 1}
        )
        if crash:
            raise Crash("died between the mint and the commit")

    world.store.before_commit = destroy


def assert_undone(world: World) -> None:
    """Charged once, refunded once, minted and burned once at the same provider, nothing in the ledger."""
    assert len(world.payments.charged) == 1
    assert list(world.payments.refunds) == [refund_key("pi_1")]
    assert world.payments.refunded("pi_1") == 25100
    assert world.tempo.minted == [mint_key("pi_1")] and world.tempo.burned == [unmint_key("pi_1")]
    assert world.tempo.supply == {"USDC": 0} and world.tempo.balance(Asset.USDC, ADDRESS) == 0
    assert world.circle.minted == [] and world.circle.burned == []
    assert world.store.ledger.journals == {}
    record = world.store.refund_of(WALLET_ID, "pi_1")
    assert record is not None and record.refund_id == "re_1" and record.reversal is Reversal.DONE
    assert (record.provider, record.token_amount, record.address) == ("tempo", MINTED, ADDRESS)
    assert world.store.claim_of(WALLET_ID).state is ClaimState.REFUNDED
    assert world.wallet.status is WalletStatus.DESTROYED


def test_a_wallet_that_ended_while_minting_gets_its_mint_burned_and_the_charge_refunded() -> None:
    world = World()
    end_the_wallet_during_the_commit(world)
    with pytest.raises(InvalidState) as raised:
        world.fund()
    assert raised.value.code == "invalid_state" and "refunded" in str(raised.value)
    assert_undone(world)
    assert world.store.refund_of(WALLET_ID, "pi_1").reason == "wallet_ended"  # type: ignore[union-attr]
    # Asking again answers the same and moves nothing.
    with pytest.raises(InvalidState):
        world.fund()
    assert_undone(world)


# Each place the undo can die: after the record, after the burn took effect, after the reversal was
# recorded, after Stripe refunded (before the refund id was stored).
STEPS = ["recorded", "tempo:burn", "reversed", "refund"]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_of_the_undo_is_finished_by_the_retry(step: str) -> None:
    world = World()
    for crashes in (world.store.crashes, world.tempo.crashes, world.payments.crashes):
        crashes.arm(step)
    end_the_wallet_during_the_commit(world)
    with pytest.raises(Crash):
        world.fund()
    with pytest.raises(InvalidState):
        world.fund()
    assert_undone(world)
    with pytest.raises(InvalidState):
        world.fund()
    assert_undone(world)


def test_a_crash_before_the_commit_then_the_wallet_ending_is_undone_by_the_retry() -> None:
    world = World()
    end_the_wallet_during_the_commit(world, crash=True)
    with pytest.raises(Crash):
        world.fund()
    assert world.tempo.supply == {"USDC": MINTED} and world.payments.refunds == {}
    # The claim names the intent and the key: the retry finds the stranded mint without charging again.
    with pytest.raises(InvalidState):
        world.fund()
    assert_undone(world)
    assert world.store.refund_of(WALLET_ID, "pi_1").reason == "wallet_ended"  # type: ignore[union-attr]


def test_the_webhook_reverses_a_mint_its_wallet_ended_under() -> None:
    world = World()
    end_the_wallet_during_the_commit(world, crash=True)
    with pytest.raises(Crash):
        world.fund()
    intent = world.payments.retrieve("pi_1")
    # The payment_intent.succeeded event arrives after the wallet ended.
    assert world.service.complete_payment(payment_of(_event_object(intent))) == "refunded"
    assert_undone(world)


def test_a_provider_down_during_the_reversal_refunds_the_payer_and_retries_the_burn() -> None:
    world = World()
    end_the_wallet_during_the_commit(world)
    destroy = world.store.before_commit
    assert destroy is not None

    def destroy_then_break_tempo() -> None:
        # The mint replay is answered from its key's record, so the queued failure hits the burn.
        world.tempo.failures.append(ProviderCallFailed("tempo", "down"))
        destroy()

    world.store.before_commit = destroy_then_break_tempo
    with pytest.raises(ReversalPending) as raised:
        world.fund()
    assert raised.value.code == "provider_unavailable"
    record = world.store.refund_of(WALLET_ID, "pi_1")
    assert record is not None and record.reversal is Reversal.PENDING and record.refund_id == "re_1"
    assert world.tempo.supply == {"USDC": MINTED}
    # Tempo is back: the retry burns, and Stripe is not asked to refund again.
    with pytest.raises(InvalidState):
        world.fund()
    assert_undone(world)


def test_a_failed_mint_whose_provider_stays_down_is_reversed_by_a_later_retry() -> None:
    world = World()
    # The mint times out (it may have landed), then the reversal's mint replay fails too.
    world.tempo.failures.extend([ProviderCallFailed("tempo", "timeout")] * 2)
    with pytest.raises(ReversalPending):
        world.fund()
    assert world.payments.refunded("pi_1") == 25100
    assert world.wallet.status is WalletStatus.ACTIVE
    with pytest.raises(ProviderUnavailable):
        world.fund()
    record = world.store.refund_of(WALLET_ID, "pi_1")
    assert record is not None and record.reversal is Reversal.DONE
    assert world.tempo.supply == {"USDC": 0} and world.tempo.burned == [unmint_key("pi_1")]
    assert list(world.payments.refunds) == [refund_key("pi_1")]
    assert world.store.ledger.journals == {}


def test_a_charge_the_webhook_funded_meanwhile_is_not_refunded() -> None:
    world = World()
    assert world.fund().status_code == 200
    intent = world.payments.retrieve("pi_1")
    # A late refund attempt for the intent that funded the wallet is refused by the store.
    refunds = FundingRefunds(world.store, world.payments, world.router)
    with pytest.raises(FundedMeanwhile):
        refunds.refund(MERCHANT, world.wallet, intent, "mint_failed", NOW)
    assert world.payments.refunds == {} and world.store.refund_of(WALLET_ID, "pi_1") is None


def _event_object(intent: object) -> dict[str, object]:
    return {
        "id": intent.intent_id,  # type: ignore[attr-defined]
        "status": "succeeded",
        "amount": intent.amount_minor,  # type: ignore[attr-defined]
        "amount_received": intent.amount_received_minor,  # type: ignore[attr-defined]
        "currency": intent.currency,  # type: ignore[attr-defined]
        "metadata": intent.metadata,  # type: ignore[attr-defined]
    }
