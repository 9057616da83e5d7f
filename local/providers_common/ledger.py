"""An in-memory token ledger: balances per address and asset, supply per asset, every operation kept."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

ASSETS = ("USDC", "USDT", "PYUSD", "EURC", "USDB")
# Value of one whole token in USD, for swaps. Dollar coins at par; EURC at a fixed local rate.
USD_VALUE = {
    "USDC": Decimal(1),
    "USDT": Decimal(1),
    "PYUSD": Decimal(1),
    "USDB": Decimal(1),
    "EURC": Decimal("1.08"),
}
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class LedgerError(Exception):
    """A refused operation; `code` is generic and each stand-in renders it in its own API's shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str) -> LedgerError:
    return LedgerError(400, "invalid_request", message)


def check_asset(asset: Any) -> str:
    if asset not in ASSETS:
        raise bad_request(f"unknown asset {asset!r}; one of {', '.join(ASSETS)}")
    return str(asset)


def check_address(address: Any) -> str:
    if not isinstance(address, str) or not ADDRESS.fullmatch(address):
        raise bad_request(f"not an address: {address!r}")
    return address


def check_amount(amount: Any) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise bad_request("amount must be a positive whole number of base units")
    return amount


def new_hash() -> str:
    return "0x" + secrets.token_hex(32)


@dataclass
class Ledger:
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    supply: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    operations: list[dict[str, Any]] = field(default_factory=list)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    block: int = 0

    def reset(self) -> None:
        with self.lock:
            self.balances.clear()
            self.supply.clear()
            self.addresses.clear()
            self.operations.clear()
            self.quotes.clear()
            self.block = 0

    def new_address(self, label: str) -> str:
        with self.lock:
            address = "0x" + secrets.token_hex(20)
            self.addresses[address] = label
            return address

    def balance(self, address: str, asset: str) -> int:
        with self.lock:
            return self.balances.get((address, asset), 0)

    def _record(self, kind: str, asset: str, amount: int, **details: Any) -> dict[str, Any]:
        self.block += 1
        operation = {
            "id": f"op_{len(self.operations) + 1:06d}",
            "kind": kind,
            "asset": asset,
            "amount": amount,
            "hash": new_hash(),
            "block": self.block,
            "at": time.time(),
            **details,
        }
        self.operations.append(operation)
        return operation

    def _debit(self, address: str, asset: str, amount: int) -> None:
        held = self.balances.get((address, asset), 0)
        if held < amount:
            raise LedgerError(
                400, "insufficient_balance", f"{address} holds {held} {asset} base units, needs {amount}"
            )
        self.balances[(address, asset)] = held - amount

    def _credit(self, address: str, asset: str, amount: int) -> None:
        self.balances[(address, asset)] = self.balances.get((address, asset), 0) + amount

    def mint(self, asset: str, amount: int, to: str) -> dict[str, Any]:
        with self.lock:
            self._credit(to, asset, amount)
            self.supply[asset] = self.supply.get(asset, 0) + amount
            return self._record("mint", asset, amount, to=to)

    def burn(self, asset: str, amount: int, source: str) -> dict[str, Any]:
        with self.lock:
            self._debit(source, asset, amount)
            self.supply[asset] = self.supply.get(asset, 0) - amount
            return self._record("burn", asset, amount, source=source)

    def transfer(self, asset: str, amount: int, source: str, to: str) -> dict[str, Any]:
        with self.lock:
            self._debit(source, asset, amount)
            self._credit(to, asset, amount)
            return self._record("transfer", asset, amount, source=source, to=to)

    def batch_transfer(self, asset: str, source: str, legs: list[tuple[str, int]]) -> dict[str, Any]:
        """All legs or none: the total is checked against the balance before anything moves."""
        if not legs:
            raise bad_request("a batch needs at least one transfer")
        with self.lock:
            total = sum(amount for _, amount in legs)
            self._debit(source, asset, total)
            for to, amount in legs:
                self._credit(to, asset, amount)
            legs_view = [{"to": to, "amount": amount} for to, amount in legs]
            return self._record("batch_transfer", asset, total, source=source, legs=legs_view)

    def swap(self, from_asset: str, to_asset: str, amount: int, address: str) -> dict[str, Any]:
        if from_asset == to_asset:
            raise bad_request("a swap needs two different assets")
        rate = rate_of(from_asset, to_asset)
        out = int((Decimal(amount) * rate).to_integral_value(rounding=ROUND_DOWN))
        if out <= 0:
            raise bad_request("amount too small to swap")
        with self.lock:
            self._debit(address, from_asset, amount)
            self.supply[from_asset] = self.supply.get(from_asset, 0) - amount
            self._credit(address, to_asset, out)
            self.supply[to_asset] = self.supply.get(to_asset, 0) + out
            return self._record(
                "swap", from_asset, amount, address=address, to_asset=to_asset, amount_out=out, rate=str(rate)
            )

    def recent_tps(self, now: float, window_s: float = 60.0) -> Decimal:
        with self.lock:
            count = sum(1 for op in self.operations if op["at"] >= now - window_s)
        return (Decimal(count) / Decimal(str(window_s))).quantize(Decimal("0.01"))

    def view(self) -> dict[str, Any]:
        with self.lock:
            balances: dict[str, dict[str, int]] = {}
            for (address, asset), amount in sorted(self.balances.items()):
                balances.setdefault(address, {})[asset] = amount
            return {
                "balances": balances,
                "supply": dict(sorted(self.supply.items())),
                "addresses": dict(self.addresses),
                "operations": [dict(op) for op in self.operations],
                "block": self.block,
            }


def rate_of(from_asset: str, to_asset: str) -> Decimal:
    return (USD_VALUE[from_asset] / USD_VALUE[to_asset]).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
