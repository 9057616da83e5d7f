"""Why a wallet is destroyed and what set it off: the words the destroy function's triggers speak, apart from
the ports so that a trigger names them without loading the destruction records' models at init."""

from __future__ import annotations

from enum import StrEnum


class DestructionReason(StrEnum):
    PAID = "paid"
    """Its invoice was paid: whatever is left (an overpayment, nothing usually) goes back to the payer."""
    EXPIRED = "expired"
    """The countdown ran out unpaid: everything it holds goes back to the payer."""


class Trigger(StrEnum):
    PAYMENT = "payment"
    SCHEDULE = "schedule"
    TTL = "ttl"
    SWEEP = "sweep"
    """The claim sweeper, resuming a destruction left between steps past its deadline."""
