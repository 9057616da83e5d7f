"""What a consumer asks for, as the money use cases take it: plain values, kept out of the service
modules so a handler can build them without importing the services, their stores and the ledger at init."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Destination:
    """Where money out goes: a bank (`bank_account`, `speed`) or an outside address (`address`, `chain`)."""

    type: str
    bank_account: str | None = None
    speed: str = "standard"
    address: str | None = None
    chain: str | None = None


@dataclass(frozen=True)
class Recipient:
    """One line of a batch transfer, checked by the request model."""

    to: str
    amount: Decimal
    currency: str
