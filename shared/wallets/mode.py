"""Choosing a wallet's mode (ephemeral, adaptive, persistent) from its invoice: seed plan 000's score."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.models.wallet import WalletMode


@dataclass(frozen=True)
class ModeRule:
    """One weight of the score: applies when the invoice has `attribute` matching `when`."""

    attribute: str
    when: object
    weight: Decimal


# Seed plan 000, kept as data so the weights can be tuned in one place.
SCORE_START = Decimal("0.5")
SCORE_RULES: tuple[ModeRule, ...] = (
    ModeRule("recurring", True, Decimal("0.4")),
    ModeRule("total_above_1000", True, Decimal("0.2")),
    ModeRule("category", "UTILITY", Decimal("-0.3")),
    ModeRule("payment_type", "one_time", Decimal("-0.4")),
)
EPHEMERAL_BELOW = Decimal("0.3")
PERSISTENT_ABOVE = Decimal("0.7")
LARGE_TOTAL = Decimal("1000")


@dataclass(frozen=True)
class InvoiceTraits:
    recurring: bool
    total_amount: Decimal
    category: str | None
    payment_type: str | None


def mode_score(traits: InvoiceTraits) -> Decimal:
    facts = {
        "recurring": traits.recurring or traits.payment_type == "recurring",
        "total_above_1000": traits.total_amount > LARGE_TOTAL,
        "category": (traits.category or "").upper(),
        "payment_type": traits.payment_type,
    }
    score = SCORE_START + sum((r.weight for r in SCORE_RULES if facts[r.attribute] == r.when), Decimal(0))
    return min(Decimal(1), max(Decimal(0), score))


def choose_mode(traits: InvoiceTraits, override: WalletMode | None = None) -> WalletMode:
    if override is not None:
        return override
    score = mode_score(traits)
    if score < EPHEMERAL_BELOW:
        return WalletMode.EPHEMERAL
    if score > PERSISTENT_ABOVE:
        return WalletMode.PERSISTENT
    return WalletMode.ADAPTIVE
