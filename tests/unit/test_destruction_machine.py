"""The destroy state machine on in-memory fakes: the process dies before and after every effect in turn
(every outside call and every write), then a later trigger resumes; the outcome is always the same."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.cards.ports import RefundResult
from shared.clock import FixedClock
from shared.crypto.envelope import SealedSecret
from shared.destruction.log import verify
from shared.destruction.ports import DestructionLog, DestructionProgress, PaymentInFlight
from shared.destruction.service import DestructionService
from shared.errors import ConcurrentUpdate
from shared.funding.ports import ClaimState, FundingClaim
from shared.ledger.journal import Journal
from shared.ledger.ports import PostOutcome
from shared.models.wallet import Wallet, WalletMode, WalletStatus
from shared.providers.models import Asset, ProviderTx
from tests.unit.wallets.fakes import NOW, FakeCards, FakeScheduler, FakeWallets


class Crash(Exception):
    """The process dies here."""


@dataclass
class Chaos:
    """Counts effect points (before and after each effect); the armed one raises Crash once."""

    armed: int | None = None
    points: list[str] = field(default_factory=list)

    def tick(self, name: str) -> None:
        self.points.append(name)
        if self.armed is not None and len(self.points) - 1 == self.armed:
            self.armed = None
            raise Crash(name)


def effect(chaos: Chaos, name: str, run: Any) -> Any:
    chaos.tick(f"before {name}")
    result = run()
    chaos.tick(f"after {name}")
    return result


@dataclass
class Provider:
    chaos: Chaos
    burns: dict[str, ProviderTx] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "tempo"

    def burn(self, asset: Asset, amount_minor: int, from_address: str, idempotency_key: str) -> ProviderTx:
        def run() -> ProviderTx:
            tx = ProviderTx(
                "tempo", f"tx{len(self.burns)}", "0xb", "confirmed", asset, amount_minor, idempotency_key
            )
            return self.burns.setdefault(idempotency_key, tx)

        return effect(self.chaos, "burn", run)  # type: ignore[no-any-return]


class Chaotic:
    """Wraps a fake so that the named methods are effect points too."""

    def __init__(self, inner: Any, chaos: Chaos, *names: str) -> None:
        self._inner, self._chaos, self._names = inner, chaos, names

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in self._names:
            return attribute
        return lambda *args, **kwargs: effect(self._chaos, name, lambda: attribute(*args, **kwargs))


class Router:
    def __init__(self, providers: dict[str, Any]) -> None:
        self.providers = providers

    def knows(self, name: str | None) -> bool:
        return name in self.providers

    def call(self, name: str, operation: Any) -> Any:
        return operation(self.providers[name])


@dataclass
class Payments:
    """Refunds by idempotency key (Stripe's), and a list of them per intent."""

    chaos: Chaos
    forget_keys: bool = False
    refunds: dict[str, RefundResult] = field(default_factory=dict)
    made: list[RefundResult] = field(default_factory=list)

    def refund(
        self, intent_id: str, amount_minor: int, idempotency_key: str, reason: str | None = None
    ) -> Any:
        def run() -> RefundResult:
            if idempotency_key in self.refunds and not self.forget_keys:
                return self.refunds[idempotency_key]
            made = RefundResult(f"re_{len(self.made) + 1}", intent_id, amount_minor, "usd", "succeeded")
            self.made.append(made)
            self.refunds[idempotency_key] = made
            return made

        return effect(self.chaos, "refund", run)

    def refunds_of(self, intent_id: str) -> list[RefundResult]:
        return [r for r in self.made if r.intent_id == intent_id]


class Funding:
    def claim_of(self, wallet_id: str) -> FundingClaim:
        return FundingClaim(wallet_id, "pi_1", "tempo", ClaimState.FUNDED)


class NoPayment:
    def settle_in_flight(self, wallet_id: str) -> bool:
        return True


@dataclass
class Store:
    """DestructionStore with the table's conditions; each write is one atomic effect."""

    wallets: FakeWallets
    chaos: Chaos
    progress: dict[str, DestructionProgress] = field(default_factory=dict)
    logs: dict[str, DestructionLog] = field(default_factory=dict)
    journals: dict[str, Journal] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def progress_of(self, wallet_id: str) -> DestructionProgress | None:
        return self.progress.get(wallet_id)

    def begin(
        self, before: Wallet, after: Wallet, progress: DestructionProgress, records: Any, stats: Any
    ) -> None:
        def run() -> None:
            if self.wallets.wallets[before.wallet_id] != before or before.wallet_id in self.progress:
                raise ConcurrentUpdate("moved")
            self.wallets.wallets[before.wallet_id] = after
            self.progress[before.wallet_id] = progress
            self.records.extend(records)

        effect(self.chaos, "begin", run)

    def forward(
        self, wallet: Wallet, journal: Journal, progress: DestructionProgress, records: Any
    ) -> PostOutcome:
        def run() -> PostOutcome:
            if journal.id in self.journals:
                return PostOutcome.ALREADY_POSTED
            self.journals[journal.id] = journal
            stored = self.wallets.wallets[wallet.wallet_id]
            self.wallets.wallets[wallet.wallet_id] = stored.model_copy(update={"balance": Decimal(0)})
            self.progress[wallet.wallet_id] = progress
            self.records.extend(records)
            return PostOutcome.POSTED

        return effect(self.chaos, "forward", run)  # type: ignore[no-any-return]

    def finish(
        self, wallet: Wallet, progress: DestructionProgress, log: DestructionLog, records: Any, stats: Any
    ) -> bool:
        def run() -> bool:
            stored = self.progress[wallet.wallet_id]
            if stored.finished_at is not None:
                return False
            if stored.balance_minor > 0 and stored.forward_journal_id is None:
                raise ConcurrentUpdate("the remainder was not forwarded")
            self.wallets.erase_keys(wallet.wallet_id, NOW, [])
            current = self.wallets.wallets[wallet.wallet_id]
            self.wallets.wallets[wallet.wallet_id] = current.model_copy(
                update={"status": WalletStatus.DESTROYED}
            )
            self.wallets.leases.pop(wallet.wallet_id, None)
            self.progress[wallet.wallet_id] = replace(stored, finished_at=NOW)
            self.logs[wallet.wallet_id] = log
            self.records.extend(records)
            return True

        return effect(self.chaos, "finish", run)  # type: ignore[no-any-return]

    def destruction_log(self, wallet_id: str) -> DestructionLog | None:
        return self.logs.get(wallet_id)


class World:
    def __init__(self, balance: str, status: WalletStatus, armed: int | None = None) -> None:
        self.chaos = Chaos(armed)
        self.clock = FixedClock(NOW + timedelta(hours=2))
        self.wallets = FakeWallets()
        wallet = Wallet(
            wallet_id="wal_000000000000000000000001",
            tenant_id="tenant-a",
            invoice_id="inv_1",
            wallet_type=WalletMode.EPHEMERAL,
            status=status,
            evm_address="0x" + "a" * 40,
            solana_address="So1",
            balance=Decimal(balance),
            spending_limit=Decimal("251.00"),
            currency="USD",
            expires_at=NOW + timedelta(hours=1),
            provider="tempo",
            card_id="ic_1",
            created_by="merchant-1",
            created_at=NOW,
            updated_at=NOW,
        )
        self.wallet_id = wallet.wallet_id
        self.wallets.wallets[wallet.wallet_id] = wallet
        self.wallets.keys[wallet.wallet_id] = SealedSecret(
            b"c" * 48, b"n" * 12, b"w" * 32, "key-1", "AES-256-GCM"
        )
        self.wallets.leases[wallet.wallet_id] = 1
        self.cards = FakeCards()
        self.cards.cards["ic_1"] = _card()
        self.scheduler = FakeScheduler()
        self.scheduler.schedules[wallet.wallet_id] = NOW
        self.provider = Provider(self.chaos)
        self.payments = Payments(self.chaos)
        self.store = Store(self.wallets, self.chaos)
        self.service = DestructionService(
            self.wallets,
            self.store,
            Funding(),
            self.payments,  # type: ignore[arg-type]
            Chaotic(self.cards, self.chaos, "deactivate_card"),  # type: ignore[arg-type]
            Chaotic(self.scheduler, self.chaos, "cancel_destruction"),  # type: ignore[arg-type]
            Router({"tempo": self.provider}),  # type: ignore[arg-type]
            self.clock,
            NoPayment(),
        )

    def destroy(self, trigger: str = "schedule") -> str:
        return self.service.destroy(self.wallet_id, trigger).result


def _card() -> Any:
    from shared.cards.ports import IssuedCard

    return IssuedCard("ic_1", "4242", 12, 2032, "active", 25100, "usd", "wal_000000000000000000000001")


def clean_run_points(balance: str, status: WalletStatus) -> list[str]:
    world = World(balance, status)
    assert world.destroy() == "destroyed"
    return world.chaos.points


CASES = [("151.00", WalletStatus.FUNDED), ("0.00", WalletStatus.PAYMENT_COMPLETE)]


@pytest.mark.parametrize(("balance", "status"), CASES, ids=["expired with a remainder", "paid"])
def test_dying_at_any_point_then_resuming_gives_one_outcome(balance: str, status: WalletStatus) -> None:
    points = clean_run_points(balance, status)
    assert points  # every effect is counted
    for armed in range(len(points)):
        world = World(balance, status, armed)
        with pytest.raises(Crash):
            world.destroy()
        results = [world.destroy("ttl"), world.destroy("schedule")]
        # Dying after the final commit leaves nothing to do: the next trigger finds it destroyed.
        first = "already_destroyed" if points[armed] == "after finish" else "destroyed"
        assert results == [first, "already_destroyed"], (armed, points[armed])
        wallet = world.wallets.wallets[world.wallet_id]
        assert wallet.status is WalletStatus.DESTROYED and wallet.balance == 0
        assert world.wallets.keys[world.wallet_id].erased
        assert world.cards.cards["ic_1"].status == "canceled"
        assert world.wallet_id not in world.scheduler.schedules
        assert world.wallet_id not in world.wallets.leases
        remainder = int(Decimal(balance) * 100)
        assert [r.amount_minor for r in world.payments.made] == ([remainder] if remainder else [])
        assert len(world.provider.burns) == (1 if remainder else 0)
        assert len(world.store.journals) == (1 if remainder else 0)
        log = world.store.logs[world.wallet_id]
        assert verify(log)


def test_a_resume_after_stripe_forgot_the_key_finds_its_refund() -> None:
    points = clean_run_points("151.00", WalletStatus.FUNDED)
    after_refund = points.index("after refund")
    world = World("151.00", WalletStatus.FUNDED, after_refund)
    with pytest.raises(Crash):
        world.destroy()
    world.payments.forget_keys = True  # more than 24 hours later
    assert world.destroy() == "destroyed"
    assert len(world.payments.made) == 1


def test_two_triggers_at_once_both_answer_destroyed_with_one_refund() -> None:
    world = World("151.00", WalletStatus.FUNDED)
    first = world.service.destroy(world.wallet_id, "schedule")
    second = world.service.destroy(world.wallet_id, "ttl")
    assert (first.result, second.result) == ("destroyed", "already_destroyed")
    assert len(world.payments.made) == 1


def test_an_in_flight_payment_is_settled_before_destruction_begins() -> None:
    world = World("151.00", WalletStatus.FUNDED)
    settled: list[str] = []
    original = world.store.begin
    blocked = {"once": True}

    def begin(*args: Any, **kwargs: Any) -> None:
        if blocked.pop("once", False):
            raise PaymentInFlight("in flight")
        original(*args, **kwargs)

    world.store.begin = begin  # type: ignore[method-assign]

    class Settler:
        def settle_in_flight(self, wallet_id: str) -> bool:
            settled.append(wallet_id)
            return True

    world.service._in_flight = Settler()
    assert world.destroy() == "destroyed"
    assert settled == [world.wallet_id]
