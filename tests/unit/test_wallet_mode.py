"""The mode score table of seed plan 000."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.models.wallet import WalletMode
from shared.wallets.mode import InvoiceTraits, choose_mode, mode_score


def traits(
    recurring: bool = False, total: str = "100", category: str | None = None, payment_type: str | None = None
) -> InvoiceTraits:
    return InvoiceTraits(recurring, Decimal(total), category, payment_type)


@pytest.mark.parametrize(
    ("invoice", "score", "mode"),
    [
        (traits(), "0.5", WalletMode.ADAPTIVE),
        (traits(recurring=True), "0.9", WalletMode.PERSISTENT),
        (traits(total="1000.01"), "0.7", WalletMode.ADAPTIVE),
        (traits(total="1000.00"), "0.5", WalletMode.ADAPTIVE),
        (traits(recurring=True, total="5000"), "1", WalletMode.PERSISTENT),
        (traits(category="UTILITY"), "0.2", WalletMode.EPHEMERAL),
        (traits(category="utility"), "0.2", WalletMode.EPHEMERAL),
        (traits(payment_type="one_time"), "0.1", WalletMode.EPHEMERAL),
        (traits(category="UTILITY", payment_type="one_time"), "0", WalletMode.EPHEMERAL),
        (traits(payment_type="recurring"), "0.9", WalletMode.PERSISTENT),
        (traits(total="2000", category="UTILITY"), "0.4", WalletMode.ADAPTIVE),
        (traits(total="2000", payment_type="one_time"), "0.3", WalletMode.ADAPTIVE),
    ],
)
def test_score_and_mode(invoice: InvoiceTraits, score: str, mode: WalletMode) -> None:
    assert mode_score(invoice) == Decimal(score)
    assert choose_mode(invoice) is mode


def test_an_override_wins_over_the_score() -> None:
    assert choose_mode(traits(recurring=True), WalletMode.EPHEMERAL) is WalletMode.EPHEMERAL
