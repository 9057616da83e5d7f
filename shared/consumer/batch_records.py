"""Batch transfer records: a batch of 1-100 items, each paid inside the ledger or through a provider, and
the network terms (one call and one fee on Tempo, one call and one fee per item on Circle) as data."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.consumer.records import Window, WindowName, format_token, format_usd
from shared.outbox.records import iso
from shared.providers.models import CIRCLE, TEMPO

MAX_ITEMS = 100
# An outside address (EVM, as the wallets and the providers use); anything else names a consumer.
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class NetworkTerms:
    """How a provider pays a batch's outside items: one call for all of them (`batch_call`) or one each,
    and the network fee (token minor units of the item's coin) per call and per item."""

    batch_call: bool
    fee_per_call: int
    fee_per_item: int


NETWORK_TERMS: dict[str, NetworkTerms] = {
    TEMPO: NetworkTerms(batch_call=True, fee_per_call=100_000, fee_per_item=0),
    CIRCLE: NetworkTerms(batch_call=False, fee_per_call=0, fee_per_item=50_000),
}


class ItemStatus(StrEnum):
    PENDING = "pending"
    """Held in the batch, to be paid inside the ledger."""
    PROCESSING = "processing"
    """Held in the batch and sent (or about to be sent) to the provider under the attempt's key."""
    PAID = "paid"
    FAILED = "failed"
    """Refused for good (nothing moved); its money and limit use went back to the sender."""


# Held in the batch and not yet paid or failed: while a batch has one, it has steps left.
OPEN_ITEMS = (ItemStatus.PENDING, ItemStatus.PROCESSING)


class BatchStatus(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchItem:
    index: int
    to: str
    amount: int
    currency: str
    usd: int
    """The amount's USD value (micro-dollars) charged to the sender's limit windows below."""
    transaction_id: str
    recipient: str | None = None
    """The consumer paid inside the ledger (user id), or None for an outside address."""
    address: str | None = None
    status: ItemStatus = ItemStatus.PENDING
    attempt: int = 1
    fee: int = 0
    provider: str | None = None
    provider_tx: str | None = None
    error: str | None = None
    windows: tuple[Window, ...] = ()

    @property
    def external(self) -> bool:
        return self.address is not None

    @property
    def version(self) -> str:
        """Status and attempt in one short value: what a change of this item is conditioned on."""
        return f"{self.status.value}.{self.attempt}"

    @property
    def held(self) -> int:
        """What the batch holds for this item: its amount and its share of the network fee."""
        return self.amount + self.fee

    def to_api(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "index": self.index,
            "to": self.to,
            "amount": format_token(self.amount),
            "currency": self.currency,
            "status": self.status.value,
            "fee": format_token(self.fee),
        }
        if self.status is ItemStatus.PAID:
            answer["transaction_id"] = self.transaction_id
        if self.error:
            answer["error"] = self.error
        return answer

    def to_record(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "to": self.to,
            "amount": self.amount,
            "currency": self.currency,
            "usd": self.usd,
            "transaction_id": self.transaction_id,
            "recipient": self.recipient,
            "address": self.address,
            "status": self.status.value,
            "attempt": self.attempt,
            "version": self.version,
            "fee": self.fee,
            "provider": self.provider,
            "provider_tx": self.provider_tx,
            "error": self.error,
            "windows": [window_record(w) for w in self.windows],
        }

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> BatchItem:
        return cls(
            index=int(values["index"]),
            to=values["to"],
            amount=int(values["amount"]),
            currency=values["currency"],
            usd=int(values["usd"]),
            transaction_id=values["transaction_id"],
            recipient=values.get("recipient"),
            address=values.get("address"),
            status=ItemStatus(values["status"]),
            attempt=int(values["attempt"]),
            fee=int(values.get("fee", 0)),
            provider=values.get("provider"),
            provider_tx=values.get("provider_tx"),
            error=values.get("error"),
            windows=tuple(window_of(w) for w in values.get("windows") or ()),
        )

    def changed(self, **changes: Any) -> BatchItem:
        return replace(self, **changes)


def window_record(window: Window) -> dict[str, str]:
    return {"name": window.name.value, "key": window.key, "resets_at": iso(window.resets_at)}


def window_of(values: dict[str, Any]) -> Window:
    return Window(
        WindowName(values["name"]),
        values["key"],
        datetime.fromisoformat(values["resets_at"].replace("Z", "+00:00")),
    )


@dataclass(frozen=True)
class Batch:
    id: str
    tenant_id: str
    user_id: str
    wallet_id: str
    reference: str | None
    created_at: datetime
    items: tuple[BatchItem, ...]

    @property
    def status(self) -> BatchStatus:
        states = {item.status for item in self.items}
        if states & {ItemStatus.PENDING, ItemStatus.PROCESSING}:
            return BatchStatus.PROCESSING
        if states == {ItemStatus.PAID}:
            return BatchStatus.COMPLETED
        if states == {ItemStatus.FAILED}:
            return BatchStatus.FAILED
        return BatchStatus.COMPLETED_WITH_ERRORS

    def to_api(self) -> dict[str, Any]:
        live = [item for item in self.items if item.status is not ItemStatus.FAILED]
        totals: dict[str, tuple[int, int]] = {}
        for item in live:
            amount, fee = totals.get(item.currency, (0, 0))
            totals[item.currency] = (amount + item.amount, fee + item.fee)
        single = len({item.currency for item in self.items}) == 1
        return {
            "id": self.id,
            "status": self.status.value,
            "reference": self.reference,
            # In the batch's coin when it has one; a batch of several coins totals their USD value.
            "currency": self.items[0].currency if single else "USD",
            "total": format_token(sum(i.amount for i in live))
            if single
            else format_usd(sum(i.usd for i in live)),
            "fee": format_token(sum(i.fee for i in live)) if single else None,
            "totals": [
                {"currency": coin, "amount": format_token(amount), "fee": format_token(fee)}
                for coin, (amount, fee) in sorted(totals.items())
            ],
            "provider": next((i.provider for i in self.items if i.provider), None),
            "created_at": iso(self.created_at),
            "items": [item.to_api() for item in self.items],
        }
