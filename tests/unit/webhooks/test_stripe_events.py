"""Stripe webhook events with fakes: signatures, one effect per event id, and the race with the sync path."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
import stripe

from shared.adapters.stripe_payments import StripeWebhookVerifier
from shared.cards.ports import PaymentResult, WebhookSignatureInvalid
from shared.clock import FixedClock
from shared.errors import InvalidState, ProviderUnavailable
from shared.funding.ports import ClaimState
from shared.funding.service import FundingService, charge_key, mint_key
from shared.ledger.journal import JournalKind, journal_id_for
from shared.models.wallet import WalletStatus
from shared.providers.models import HealthStatus
from shared.providers.service import ProviderRouter
from shared.providers.state import HealthRecord
from shared.stripe_events.service import StripeEventService
from tests.unit.funding.fakes import FakePayments, MemoryInvoices
from tests.unit.funding.test_funding import BANK, MERCHANT, NOW, VISA, WALLET_ID, wallet
from tests.unit.providers.fakes import CountingMetrics, MemoryHealthRepository, ScriptedProvider
from tests.unit.webhooks.fakes import MemoryEventLog, ReleasingStore

SECRET = "whsec_unit"


class Hooks:
    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.store = ReleasingStore()
        self.store.wallets[WALLET_ID] = wallet()
        self.payments = FakePayments()
        self.tempo = ScriptedProvider("tempo")
        providers = {"tempo": self.tempo}
        self.health = MemoryHealthRepository()
        router = ProviderRouter(providers, self.health, self.clock, CountingMetrics())
        self.funding = FundingService(
            self.store,
            self.store,
            self.payments,
            router,
            self.clock,
            invoices=MemoryInvoices(self.store),
        )
        self.events = MemoryEventLog(self.store)
        self.service = StripeEventService(
            StripeWebhookVerifier(SECRET), self.events, self.funding, self.store, self.clock
        )
        self.counter = 0

    def fund(self, method: str = BANK, key: str | None = None) -> Any:
        return self.funding.fund(MERCHANT, WALLET_ID, method, key)

    def settle(self, status: str = "succeeded", key: str | None = None) -> PaymentResult:
        """Stripe settles the processing intent of the attempt `key` (the stand-in's complete)."""
        # A keyless attempt's key is new on each call: the one to settle is the latest.
        stripe_key = charge_key(WALLET_ID, MERCHANT, key) if key else list(self.payments.intents)[-1]
        intent = self.payments.intents[stripe_key]
        received = intent.amount_minor if status == "succeeded" else 0
        settled = replace(intent, status=status, amount_received_minor=received)  # type: ignore[arg-type]
        self.payments.intents[stripe_key] = settled
        return settled

    def event(self, event_type: str, intent: PaymentResult, event_id: str | None = None) -> str:
        self.counter += 1
        data = {
            "id": intent.intent_id,
            "object": "payment_intent",
            "status": intent.status,
            "amount": intent.amount_minor,
            "amount_received": intent.amount_received_minor,
            "currency": intent.currency,
            "metadata": intent.metadata,
        }
        return json.dumps(
            {
                "id": event_id or f"evt_{self.counter}",
                "object": "event",
                "type": event_type,
                "created": int(time.time()),
                "livemode": False,
                "data": {"object": data},
            }
        )

    def deliver(self, body: str, secret: str = SECRET, age: int = 0) -> Any:
        header = stripe.WebhookSignature.generate_signature_header(
            body, secret, timestamp=int(time.time()) - age
        )
        return self.service.handle(body.encode(), header)

    @property
    def journals(self) -> list[str]:
        return list(self.store.ledger.journals)

    def event_records(self) -> list[dict[str, Any]]:
        return [r for r in self.store.records if str(r.get("pk", "")).startswith("STRIPEEVENT#")]


def test_a_processing_payment_is_completed_by_the_succeeded_webhook() -> None:
    hooks = Hooks()
    assert hooks.fund().status_code == 202
    assert hooks.journals == [] and hooks.tempo.minted == []
    intent = hooks.settle()
    outcome = hooks.deliver(hooks.event("payment_intent.succeeded", intent))
    assert outcome.outcome == "funded"
    assert hooks.tempo.minted == [mint_key(intent.intent_id)]
    assert hooks.journals == [journal_id_for(JournalKind.FUND, intent.intent_id)]
    stored = hooks.store.wallets[WALLET_ID]
    assert (stored.status, str(stored.balance)) == ("funded", "251.00")
    claim = hooks.store.claim_of(WALLET_ID)
    assert (claim.state, claim.intent_id) == (ClaimState.FUNDED, intent.intent_id)
    (record,) = hooks.event_records()
    assert (record["event_type"], record["outcome"]) == ("payment_intent.succeeded", "funded")
    # a call without a key is a new attempt: the funded wallet refuses it, nothing charged or minted again
    charges = hooks.payments.charge_calls
    with pytest.raises(InvalidState):
        hooks.fund()
    assert hooks.payments.charge_calls == charges
    assert hooks.tempo.minted == [mint_key(intent.intent_id)] and len(hooks.journals) == 1


def test_a_repeated_event_id_is_a_no_op() -> None:
    hooks = Hooks()
    hooks.fund()
    body = hooks.event("payment_intent.succeeded", hooks.settle())
    assert hooks.deliver(body).outcome == "funded"
    records_before = list(hooks.store.records)
    again = hooks.deliver(body)
    assert again.outcome == "duplicate"
    assert hooks.store.records == records_before and len(hooks.tempo.minted) == 1 and len(hooks.journals) == 1


def test_succeeded_after_the_synchronous_path_funded_mints_and_posts_nothing_more() -> None:
    hooks = Hooks()
    funded = hooks.fund(VISA, key="k1")
    assert funded.status_code == 200
    (intent,) = hooks.payments.charged
    outcome = hooks.deliver(hooks.event("payment_intent.succeeded", intent))
    assert outcome.outcome == "already_funded"
    assert hooks.tempo.minted == [mint_key(intent.intent_id)] and len(hooks.journals) == 1
    assert hooks.payments.refunds == {}
    assert str(hooks.store.wallets[WALLET_ID].balance) == "251.00"
    assert [r["outcome"] for r in hooks.event_records()] == ["already_funded"]


def test_the_webhook_racing_a_sync_retry_posts_one_journal() -> None:
    """The webhook claimed and minted (crash before commit); the other path then finds the same claim,
    mints with the same key and posts the same journal id: one journal, one credit."""
    hooks = Hooks()
    hooks.fund()
    intent = hooks.settle()
    body = hooks.event("payment_intent.succeeded", intent)
    hooks.store.before_commit = lambda: hooks.funding.complete_payment(intent)
    assert hooks.deliver(body).outcome == "funded"
    assert hooks.journals == [journal_id_for(JournalKind.FUND, intent.intent_id)]
    assert set(hooks.tempo.minted) == {mint_key(intent.intent_id)}
    assert str(hooks.store.wallets[WALLET_ID].balance) == "251.00"
    assert len(hooks.event_records()) == 1


def test_a_failed_payment_releases_the_claim_and_the_next_attempt_gets_a_new_stripe_key() -> None:
    hooks = Hooks()
    hooks.fund()
    failed = hooks.settle("requires_payment_method")
    outcome = hooks.deliver(hooks.event("payment_intent.payment_failed", failed))
    assert outcome.outcome == "released"
    claim = hooks.store.claim_of(WALLET_ID)
    assert (claim.state, claim.refunds) == (ClaimState.REFUNDED, 1)
    assert hooks.fund(VISA).status_code == 200  # a new attempt, a new PaymentIntent
    assert len(hooks.payments.intents) == 2 and len(hooks.journals) == 1


def test_a_failure_after_the_success_changes_nothing() -> None:
    hooks = Hooks()
    hooks.fund()
    intent = hooks.settle()
    assert hooks.deliver(hooks.event("payment_intent.succeeded", intent)).outcome == "funded"
    stale = replace(intent, status="requires_payment_method", amount_received_minor=0)
    records_before = len(hooks.store.records)
    outcome = hooks.deliver(hooks.event("payment_intent.payment_failed", stale))
    assert outcome.outcome == "ignored"
    claim = hooks.store.claim_of(WALLET_ID)
    assert (claim.state, claim.refunds) == (ClaimState.FUNDED, 0)
    assert hooks.store.wallets[WALLET_ID].status == "funded"
    assert len(hooks.store.records) == records_before + 1  # only the event's record


def test_a_late_success_for_a_wallet_funded_by_another_payment_is_refunded() -> None:
    hooks = Hooks()
    hooks.fund()
    intent = hooks.settle()
    funded = hooks.store.wallets[WALLET_ID].model_copy(update={"status": WalletStatus.FUNDED})
    hooks.store.wallets[WALLET_ID] = funded
    outcome = hooks.deliver(hooks.event("payment_intent.succeeded", intent))
    assert outcome.outcome == "refunded"
    assert hooks.tempo.minted == [] and hooks.journals == []
    (refund,) = hooks.payments.refunds.values()
    assert (refund.intent_id, refund.amount_minor) == (intent.intent_id, 25100)


def test_unknown_types_are_recorded_and_ignored() -> None:
    hooks = Hooks()
    body = json.dumps(
        {
            "id": "evt_other",
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "data": {"object": {"id": "cus_1"}},
        }
    )
    assert hooks.deliver(body).outcome == "ignored"
    assert [r["event_id"] for r in hooks.event_records()] == ["evt_other"]
    assert hooks.deliver(body).outcome == "duplicate"


def test_events_for_other_wallets_or_none_are_ignored() -> None:
    hooks = Hooks()
    hooks.fund()
    intent = hooks.settle()
    foreign = replace(intent, metadata={**intent.metadata, "tenant_id": "tenant-b"})
    assert hooks.deliver(hooks.event("payment_intent.succeeded", foreign)).outcome == "ignored"
    bare = replace(intent, metadata={})
    assert hooks.deliver(hooks.event("payment_intent.succeeded", bare)).outcome == "ignored"
    assert hooks.tempo.minted == [] and hooks.store.wallets[WALLET_ID].status == "active"


@pytest.mark.parametrize(
    ("secret", "age", "match"),
    [("whsec_wrong", 0, "signature"), (SECRET, 301, "tolerance")],
)
def test_a_bad_or_stale_signature_is_400_and_changes_nothing(secret: str, age: int, match: str) -> None:
    hooks = Hooks()
    hooks.fund()
    body = hooks.event("payment_intent.succeeded", hooks.settle())
    with pytest.raises(WebhookSignatureInvalid, match=match) as caught:
        hooks.deliver(body, secret=secret, age=age)
    assert caught.value.status == 400 and caught.value.code == "validation_error"
    assert hooks.event_records() == [] and hooks.tempo.minted == [] and hooks.journals == []


def test_a_missing_signature_or_tampered_body_is_rejected() -> None:
    hooks = Hooks()
    hooks.fund()
    body = hooks.event("payment_intent.succeeded", hooks.settle())
    with pytest.raises(WebhookSignatureInvalid):
        hooks.service.handle(body.encode(), None)
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    with pytest.raises(WebhookSignatureInvalid):
        hooks.service.handle(body.replace("25100", "99900").encode(), header)
    assert hooks.event_records() == [] and hooks.journals == []


def test_no_healthy_provider_changes_nothing_and_the_redelivery_funds() -> None:
    hooks = Hooks()
    hooks.fund()
    body = hooks.event("payment_intent.succeeded", hooks.settle())
    hooks.health.health["tempo"] = HealthRecord("tempo", HealthStatus.DOWN, 40, NOW)
    with pytest.raises(ProviderUnavailable):
        hooks.deliver(body)
    assert hooks.event_records() == [] and hooks.payments.refunds == {} and hooks.journals == []
    assert hooks.store.claim_of(WALLET_ID).state is None
    del hooks.health.health["tempo"]
    assert hooks.deliver(body).outcome == "funded"
    assert len(hooks.journals) == 1 and hooks.payments.refunds == {}


def test_a_payment_of_another_amount_is_refunded_not_credited() -> None:
    hooks = Hooks()
    hooks.fund()
    intent = replace(hooks.settle(), amount_received_minor=100)
    assert hooks.deliver(hooks.event("payment_intent.succeeded", intent)).outcome == "refunded"
    assert hooks.journals == [] and hooks.tempo.minted == []
    (refund,) = hooks.payments.refunds.values()
    assert refund.amount_minor == 100
