"""PayInvoice, the use case above paying and destruction: an ephemeral wallet its payment completed is
destroyed before the answer; a partial payment, a persistent wallet or a failed destruction leave the
payment standing with the wallet's real status in the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.auth import Principal
from shared.errors import ProviderUnavailable
from shared.models.invoice import Invoice, InvoiceStatus
from shared.models.wallet import Wallet, WalletMode, WalletStatus
from shared.payments.pay_invoice import PAYMENT_TRIGGER, PayInvoice
from shared.payments.ports import PaymentClaim, PaymentState
from shared.payments.service import PaymentOutcome

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
WALLET_ID = "wal_000000000000000000000001"
PAYER = Principal("merchant-1", "tenant-a", frozenset({"merchant"}))


def wallet(mode: WalletMode, status: WalletStatus) -> Wallet:
    return Wallet(
        wallet_id=WALLET_ID,
        tenant_id="tenant-a",
        invoice_id="inv_1",
        wallet_type=mode,
        status=status,
        evm_address="0x" + "a" * 40,
        solana_address="So1",
        balance=Decimal("0.00"),
        spending_limit=Decimal("10.00"),
        currency="USD",
        provider="tempo",
        created_by="merchant-1",
        created_at=NOW,
        updated_at=NOW,
    )


def outcome(mode: WalletMode, status: WalletStatus) -> PaymentOutcome:
    invoice = Invoice.model_construct(
        id="inv_1",
        status=InvoiceStatus.PAID
        if status is WalletStatus.PAYMENT_COMPLETE
        else InvoiceStatus.PARTIALLY_PAID,
        currency="USD",
        total_amount=Decimal("10.00"),
        amount_paid=Decimal("10.00") if status is WalletStatus.PAYMENT_COMPLETE else Decimal("4.00"),
        due_date=date(2030, 2, 1),
    )
    claim = PaymentClaim(
        wallet_id=WALLET_ID,
        tenant_id="tenant-a",
        operation_id=f"{WALLET_ID}-p1",
        amount_minor=1000,
        token_amount=10_000_000,
        token="USDC",
        provider="tempo",
        source="0x" + "a" * 40,
        destination="0x" + "b" * 40,
        state=PaymentState.DONE,
        actor="merchant-1",
        created_at=NOW,
        transaction_hash="0xtx",
    )
    return PaymentOutcome(wallet(mode, status), invoice, claim)


@dataclass
class Payments:
    answer: PaymentOutcome

    def pay(self, principal: Principal, wallet_id: str, amount: Decimal | None) -> PaymentOutcome:
        return self.answer


@dataclass(frozen=True)
class Destroyed:
    destroyed: bool


@dataclass
class Destroyer:
    fails: bool = False
    result: bool = True
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)

    def destroy(self, wallet_id: str, trigger: str, paid: Wallet | None = None) -> Destroyed:
        self.calls.append((wallet_id, trigger, paid))
        if self.fails:
            raise ProviderUnavailable("the burn failed")
        return Destroyed(self.result)

    def retry_soon(self, wallet_id: str) -> None:
        self.retried.append(wallet_id)


@dataclass
class Wallets:
    current: Wallet | None = None

    def get(self, wallet_id: str) -> Wallet | None:
        return self.current


def use_case(answer: PaymentOutcome, destroyer: Destroyer, wallets: Wallets | None = None) -> PayInvoice:
    return PayInvoice(Payments(answer), destroyer, wallets or Wallets())  # type: ignore[arg-type]


def test_a_completed_ephemeral_wallet_is_destroyed_before_the_answer() -> None:
    paid = outcome(WalletMode.EPHEMERAL, WalletStatus.PAYMENT_COMPLETE)
    destroyer = Destroyer()
    answer = use_case(paid, destroyer).pay(PAYER, WALLET_ID, None)
    # Destruction gets the wallet as the payment committed it (no stale re-read decides for it).
    assert destroyer.calls == [(WALLET_ID, PAYMENT_TRIGGER, paid.wallet)]
    assert answer.destroyed and answer.to_api()["wallet_status"] == "destroyed"
    assert answer.wallet is paid.wallet  # the committed wallet is still what the outcome carries


@pytest.mark.parametrize(
    ("mode", "status"),
    [(WalletMode.EPHEMERAL, WalletStatus.FUNDED), (WalletMode.PERSISTENT, WalletStatus.PAYMENT_COMPLETE)],
)
def test_a_partial_payment_or_a_persistent_wallet_is_not_destroyed(
    mode: WalletMode, status: WalletStatus
) -> None:
    destroyer = Destroyer()
    answer = use_case(outcome(mode, status), destroyer).pay(PAYER, WALLET_ID, None)
    assert destroyer.calls == [] and not answer.destroyed
    assert answer.to_api()["wallet_status"] == status.value


def test_a_failed_destruction_keeps_the_payment_and_moves_the_schedule_close() -> None:
    destroyer = Destroyer(fails=True)
    now_destroying = wallet(WalletMode.EPHEMERAL, WalletStatus.DESTROYING)
    answer = use_case(
        outcome(WalletMode.EPHEMERAL, WalletStatus.PAYMENT_COMPLETE), destroyer, Wallets(now_destroying)
    ).pay(PAYER, WALLET_ID, None)
    assert destroyer.retried == [WALLET_ID]
    assert not answer.destroyed and answer.to_api()["wallet_status"] == "destroying"
    assert answer.to_api()["transaction_hash"] == "0xtx"
