"""Funding with fakes: declines, processing, provider outages, refunds, repeats and crash recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.auth import Principal
from shared.clock import FixedClock
from shared.errors import (
    Conflict,
    IdempotencyKeyReuse,
    InvalidState,
    NotFound,
    PaymentFailed,
    ProviderUnavailable,
)
from shared.funding.ports import ClaimState, FundingClaim, Reversal
from shared.funding.service import FundingService, charge_key, mint_key, refund_key, unmint_key
from shared.ledger.accounts import Account
from shared.ledger.journal import JournalKind, journal_id_for
from shared.models.wallet import Wallet, WalletMode, WalletStatus
from shared.providers.errors import ProviderCallFailed
from shared.providers.models import HealthStatus
from shared.providers.service import ProviderRouter
from shared.providers.state import HealthRecord
from tests.unit.funding.fakes import Crash, FakePayments, KeyedProvider, MemoryFundingStore, MemoryInvoices
from tests.unit.providers.fakes import CountingMetrics, MemoryHealthRepository

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
WALLET_ID = "wal_" + "a" * 24
MERCHANT = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))
CUSTOMER = Principal("cus_alice", "tenant-a", frozenset({"consumer"}))
STRANGER = Principal("cus_bob", "tenant-a", frozenset({"consumer"}))
OTHER_TENANT = Principal("merchant-9", "tenant-b", frozenset({"merchant"}))
VISA, DECLINED, BANK = "pm_card_visa", "pm_card_chargeDeclined", "pm_usBankAccount"


def wallet(**overrides: Any) -> Wallet:
    values: dict[str, Any] = {
        "wallet_id": WALLET_ID,
        "tenant_id": "tenant-a",
        "invoice_id": "inv_" + "b" * 24,
        "customer_id": "cus_alice",
        "wallet_type": WalletMode.EPHEMERAL,
        "status": WalletStatus.ACTIVE,
        "evm_address": "0x" + "1" * 40,
        "solana_address": "So1ana",
        "spending_limit": Decimal("251.00"),
        "currency": "USD",
        "expires_at": NOW + timedelta(hours=1),
        "ttl_seconds": 3600,
        "created_by": "merchant-1",
        "created_at": NOW - timedelta(minutes=5),
        "updated_at": NOW - timedelta(minutes=5),
    }
    return Wallet.model_validate({**values, **overrides})


class World:
    def __init__(self, **wallet_overrides: Any) -> None:
        self.clock = FixedClock(NOW)
        self.store = MemoryFundingStore()
        self.store.wallets[WALLET_ID] = wallet(**wallet_overrides)
        self.payments = FakePayments()
        self.tempo = KeyedProvider("tempo")
        self.circle = KeyedProvider("circle")
        self.health = MemoryHealthRepository()
        self.providers = {"tempo": self.tempo, "circle": self.circle}
        self.router = ProviderRouter(self.providers, self.health, self.clock, CountingMetrics())
        self.service = FundingService(
            self.store,
            self.store,
            self.payments,
            self.router,
            self.clock,
            invoices=MemoryInvoices(self.store),
        )

    def fund(self, method: str = VISA, key: str | None = "key-1", principal: Principal = MERCHANT) -> Any:
        return self.service.fund(principal, WALLET_ID, method, key)

    def record_health(self, name: str, status: HealthStatus) -> None:
        self.health.health[name] = HealthRecord(name, status, 40, NOW)

    @property
    def wallet(self) -> Wallet:
        return self.store.wallets[WALLET_ID]

    @property
    def minted_keys(self) -> list[str]:
        return self.tempo.minted + self.circle.minted

    def events(self) -> list[str]:
        return sorted(r["event_name"] for r in self.store.records if "event_name" in r)


def test_a_card_funding_charges_mints_and_posts_everything_once() -> None:
    world = World()
    outcome = world.fund()
    assert outcome.status_code == 200
    assert outcome.data == {
        "wallet_id": WALLET_ID,
        "wallet_balance": "251.00",
        "transaction_hash": "0xabc",
        "provider": "tempo",
        "status": "funded",
        "payment_intent_id": "pi_1",
    }
    (intent,) = world.payments.charged
    assert (intent.amount_minor, intent.currency) == (25100, "usd")
    assert world.payments.intents == {charge_key(WALLET_ID, MERCHANT, "key-1"): intent}
    assert world.tempo.minted == [mint_key("pi_1")] and world.circle.minted == []
    assert (world.wallet.status, world.wallet.balance, world.wallet.provider) == (
        "funded",
        Decimal("251.00"),
        "tempo",
    )
    assert world.wallet.version == 2
    ledger = world.store.ledger
    assert list(ledger.journals) == [journal_id_for(JournalKind.FUND, "pi_1")]
    assert ledger.balance(Account.wallet(WALLET_ID, "USDC")) == 251_000_000  # cents x 10,000
    assert world.store.stats == {"status_active": -1, "status_funded": 1}
    assert world.events() == ["payment:received", "wallet:funded"]
    outbox = [r for r in world.store.records if "event_name" in r]
    assert all(r["channels"] == [f"wallet:{WALLET_ID}", "invoice:inv_" + "b" * 24] for r in outbox)
    assert all(r["data"]["tenant_id"] == "tenant-a" for r in outbox)
    assert any(r.get("action") == "wallet.funded" for r in world.store.records)


def test_the_customer_may_fund_and_nobody_else() -> None:
    world = World()
    for stranger in (STRANGER, OTHER_TENANT):
        with pytest.raises(NotFound):
            world.fund(principal=stranger)
    assert world.payments.charge_calls == 0
    assert world.fund(principal=CUSTOMER).status_code == 200


def test_a_decline_is_payment_failed_and_nothing_is_minted_or_credited() -> None:
    world = World()
    with pytest.raises(PaymentFailed) as raised:
        world.fund(DECLINED)
    assert raised.value.status == 402 and raised.value.code == "payment_failed"
    assert world.minted_keys == [] and world.store.ledger.journals == {}
    assert world.wallet.status is WalletStatus.ACTIVE and world.store.claims == {}


def test_a_processing_bank_payment_answers_202_and_credits_nothing_yet() -> None:
    world = World()
    outcome = world.fund(BANK)
    assert outcome.status_code == 202
    assert outcome.data == {"wallet_id": WALLET_ID, "status": "processing", "payment_intent_id": "pi_1"}
    assert world.minted_keys == [] and world.store.ledger.journals == {}
    assert world.wallet.status is WalletStatus.ACTIVE


def test_no_healthy_provider_refuses_before_anything_is_charged() -> None:
    world = World()
    world.record_health("tempo", HealthStatus.DOWN)
    world.record_health("circle", HealthStatus.DOWN)
    with pytest.raises(ProviderUnavailable) as raised:
        world.fund()
    assert raised.value.status == 503 and raised.value.code == "provider_unavailable"
    assert world.payments.charge_calls == 0 and world.payments.intents == {}


def test_circle_takes_over_when_tempo_is_down() -> None:
    world = World()
    world.record_health("tempo", HealthStatus.DOWN)
    world.record_health("circle", HealthStatus.HEALTHY)
    assert world.fund().data["provider"] == "circle"
    assert world.circle.minted == [mint_key("pi_1")] and world.tempo.minted == []


def test_a_failed_mint_refunds_the_charge_records_it_and_answers_503() -> None:
    world = World()
    world.tempo.failures.append(ProviderCallFailed("tempo", "timeout"))
    with pytest.raises(ProviderUnavailable):
        world.fund()
    assert list(world.payments.refunds) == [refund_key("pi_1")]
    assert world.payments.refunds[refund_key("pi_1")].amount_minor == 25100
    record = world.store.refund_of(WALLET_ID, "pi_1")
    assert record is not None and record.refund_id == "re_1" and record.reason == "mint_failed"
    assert any(r.get("action") == "wallet.funding_refunded" for r in world.store.records)
    assert world.store.ledger.journals == {} and world.wallet.status is WalletStatus.ACTIVE
    # The timeout might have hidden a mint: the keyed mint was settled and burned back, netting zero.
    assert world.tempo.burned == [unmint_key("pi_1")] and world.tempo.supply == {"USDC": 0}
    assert record.reversal is Reversal.DONE

    # The same Idempotency-Key again: the same (refunded) PaymentIntent, never a second charge or a mint.
    with pytest.raises(ProviderUnavailable):
        world.fund()
    assert len(world.payments.intents) == 1 and world.minted_keys == [mint_key("pi_1")]
    assert world.tempo.supply == {"USDC": 0}
    assert list(world.payments.refunds) == [refund_key("pi_1")]

    # A new key is a new attempt, and it funds the wallet.
    assert world.fund(key="key-2").data["payment_intent_id"] == "pi_2"
    assert world.wallet.status is WalletStatus.FUNDED


def test_without_a_key_every_call_is_a_new_attempt_and_a_refund_never_blocks_the_next() -> None:
    world = World()
    world.tempo.failures.append(ProviderCallFailed("tempo", "down"))
    with pytest.raises(ProviderUnavailable):
        world.fund(key=None)
    assert world.store.claim_of(WALLET_ID).refunds == 1
    outcome = world.fund(key=None)
    assert outcome.data["payment_intent_id"] == "pi_2"
    assert len(set(world.payments.charge_keys)) == 2
    # Without a key a repeat is a new attempt: the funded wallet refuses it before anything is charged.
    charges = world.payments.charge_calls
    with pytest.raises(InvalidState):
        world.fund(key=None)
    assert world.payments.charge_calls == charges and len(world.payments.intents) == 2


def test_without_a_key_a_declined_card_does_not_block_another_card() -> None:
    world = World()
    with pytest.raises(PaymentFailed):
        world.fund(DECLINED, key=None)
    outcome = world.fund(VISA, key=None)
    assert outcome.status_code == 200 and world.wallet.status is WalletStatus.FUNDED
    first, second = world.payments.charge_keys
    assert first != second and first.startswith(f"fund-{WALLET_ID}-")
    assert len(world.payments.charged) == 1 and world.minted_keys == [mint_key("pi_1")]


def test_with_a_key_the_attempt_key_is_deterministic_and_a_declined_key_stays_bound() -> None:
    assert charge_key(WALLET_ID, MERCHANT, "k") == charge_key(WALLET_ID, MERCHANT, "k")
    assert charge_key(WALLET_ID, MERCHANT, "k") != charge_key(WALLET_ID, CUSTOMER, "k")
    assert charge_key(WALLET_ID, MERCHANT, None) != charge_key(WALLET_ID, MERCHANT, None)
    world = World()
    with pytest.raises(PaymentFailed):
        world.fund(DECLINED, key="k")
    # The client chose to reuse its key with another card: Stripe's rule stands (and its 409 shows it).
    with pytest.raises(IdempotencyKeyReuse):
        world.fund(VISA, key="k")
    assert world.payments.charged == []


def test_a_call_while_another_attempt_holds_the_claim_charges_nothing() -> None:
    world = World()
    world.store.claims[WALLET_ID] = FundingClaim(
        WALLET_ID, "pi_other", "tempo", ClaimState.MINTING, "fund-other-attempt"
    )
    with pytest.raises(Conflict):
        world.fund(key=None)
    assert world.payments.charge_calls == 0 and world.minted_keys == []


def test_repeating_a_request_charges_once_and_posts_one_journal() -> None:
    world = World()
    first = world.fund()
    second = world.fund()
    assert second.status_code == 200 and second.data == first.data
    assert len(world.payments.intents) == 1 and world.minted_keys == [mint_key("pi_1")]
    assert len(world.store.ledger.journals) == 1
    with pytest.raises(InvalidState):
        world.fund(key="another-key")
    assert len(world.payments.intents) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": WalletStatus.DESTROYED},
        {"status": WalletStatus.DESTROYING},
        {"status": WalletStatus.EXPIRED},
        {"expires_at": NOW - timedelta(seconds=1)},  # past, though no trigger ran yet
        {"status": WalletStatus.FUNDED, "balance": Decimal("251.00")},
        {"balance": Decimal("251.00")},  # nothing due
    ],
)
def test_wallets_that_cannot_be_funded_are_invalid_state(overrides: dict[str, Any]) -> None:
    world = World(**overrides)
    with pytest.raises(InvalidState) as raised:
        world.fund()
    assert raised.value.code == "invalid_state"
    assert world.payments.charge_calls == 0


def test_a_crash_between_charge_and_mint_converges_on_retry() -> None:
    world = World()
    world.payments.crash_after_charge = True
    with pytest.raises(Crash):
        world.fund()
    assert len(world.payments.charged) == 1 and world.minted_keys == []
    assert world.fund().status_code == 200
    assert len(world.payments.charged) == 1
    assert world.minted_keys == [mint_key("pi_1")]
    assert len(world.store.ledger.journals) == 1 and world.wallet.status is WalletStatus.FUNDED


def test_a_crash_between_mint_and_post_converges_on_the_same_provider() -> None:
    world = World()

    def crash() -> None:
        # Tempo goes down after minting: the retry must still mint at Tempo (same key), not at Circle.
        world.record_health("tempo", HealthStatus.DOWN)
        raise Crash("died after the mint")

    world.store.before_commit = crash
    with pytest.raises(Crash):
        world.fund()
    assert world.tempo.minted == [mint_key("pi_1")] and world.store.ledger.journals == {}
    outcome = world.fund()
    assert outcome.data["provider"] == "tempo"
    assert len(world.payments.charged) == 1
    assert set(world.minted_keys) == {mint_key("pi_1")} and world.circle.minted == []
    assert len(world.store.ledger.journals) == 1


def test_an_already_posted_journal_is_success_with_the_funded_state() -> None:
    world = World()

    def webhook_posted_first() -> None:
        # The webhook path posted this PaymentIntent's journal (and the wallet with it) in the meantime.
        world.store.before_commit = None
        world.service.fund(MERCHANT, WALLET_ID, VISA, "key-1")

    world.store.before_commit = webhook_posted_first
    outcome = world.fund()
    assert outcome.status_code == 200 and outcome.data["status"] == "funded"
    assert len(world.store.ledger.journals) == 1 and len(world.payments.charged) == 1


def test_a_second_key_while_the_first_holds_the_claim_is_refused_before_any_charge() -> None:
    world = World()

    def other_request() -> None:
        # While key-1 is between mint and post, key-2 finds the claim held: refused, nothing charged.
        with pytest.raises(Conflict):
            world.service.fund(MERCHANT, WALLET_ID, VISA, "key-2")

    world.store.before_commit = other_request
    assert world.fund().status_code == 200
    assert len(world.payments.charged) == 1 and world.payments.refunds == {}
    assert world.minted_keys == [mint_key("pi_1")] and len(world.store.ledger.journals) == 1
    assert world.store.claim_of(WALLET_ID).state is ClaimState.FUNDED


def test_a_second_key_racing_the_first_is_refunded_before_any_mint() -> None:
    world = World()

    def other_request() -> None:
        # key-2 runs whole while key-1 is at Stripe: both passed the claim check before either claimed.
        world.payments.before_charge = None
        assert world.service.fund(MERCHANT, WALLET_ID, VISA, "key-2").status_code == 200

    world.payments.before_charge = other_request
    with pytest.raises(InvalidState):
        world.fund()
    # key-1's charge (pi_2) lost the claim to key-2's (pi_1): refunded, never minted.
    assert len(world.payments.charged) == 2
    assert list(world.payments.refunds) == [refund_key("pi_2")]
    assert world.minted_keys == [mint_key("pi_1")] and len(world.store.ledger.journals) == 1
    assert world.store.claim_of(WALLET_ID).state is ClaimState.FUNDED


@pytest.mark.parametrize("status", ["void", "paid"])
def test_a_wallet_whose_invoice_is_not_payable_is_invalid_state_and_nothing_is_charged(status: str) -> None:
    from shared.models.invoice import InvoiceStatus

    world = World()
    world.store.invoice_statuses[world.wallet.invoice_id or ""] = InvoiceStatus(status)
    with pytest.raises(InvalidState):
        world.fund()
    assert world.payments.charge_calls == 0
    assert world.wallet.status is WalletStatus.ACTIVE


def test_an_invoice_voided_between_the_charge_and_the_claim_gets_the_charge_refunded() -> None:
    from shared.models.invoice import InvoiceStatus

    world = World()
    charge = world.payments.charge

    def charge_then_void(*args: Any, **kwargs: Any) -> Any:
        result = charge(*args, **kwargs)
        world.store.invoice_statuses[world.wallet.invoice_id or ""] = InvoiceStatus.VOID
        return result

    world.payments.charge = charge_then_void  # type: ignore[method-assign]
    with pytest.raises(InvalidState):
        world.fund()
    assert world.minted_keys == []
    assert world.payments.refunded("pi_1") == 251_00
    assert world.wallet.status is WalletStatus.ACTIVE
