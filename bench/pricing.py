"""AWS price arithmetic for the cost bench: the price file, billing units from measured calls, cost lines.

Pure functions only (no AWS, no moto), so the arithmetic is unit-tested on its own. Amounts are `Decimal`
dollars: a per-invoice cost is millionths of a cent and floats would blur the parts that add up to it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")

KB = 1024
WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
EVENTBRIDGE_CHUNK_BYTES = 64 * KB
WEBSOCKET_MESSAGE_BYTES = 32 * KB

# DynamoDB read consistency -> read request units per 4 KB.
READ_UNITS_PER_4KB = {"eventual": Decimal("0.5"), "strong": Decimal(1), "transactional": Decimal(2)}

_TYPED = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


@dataclass(frozen=True)
class Price:
    key: str
    label: str
    usd: Decimal
    per: Decimal
    unit: str
    source: str

    def cost(self, quantity: Decimal) -> Decimal:
        return self.usd * quantity / self.per


@dataclass(frozen=True)
class PriceList:
    as_of: str
    region: str
    prices: dict[str, Price]


@dataclass(frozen=True)
class CostLine:
    key: str
    label: str
    quantity: Decimal
    unit: str
    usd: Decimal


def load_prices(path: Path = PRICES_FILE) -> PriceList:
    return parse_prices(json.loads(path.read_text()))


def parse_prices(document: Mapping[str, Any]) -> PriceList:
    prices = {
        key: Price(
            key=key,
            label=str(row["label"]),
            usd=Decimal(str(row["usd"])),
            per=Decimal(str(row["per"])),
            unit=str(row["unit"]),
            source=str(row["source"]),
        )
        for key, row in document["prices"].items()
    }
    return PriceList(as_of=str(document["as_of"]), region=str(document["region"]), prices=prices)


def cost_lines(usage: Mapping[str, Decimal | int | float], prices: PriceList) -> list[CostLine]:
    """One line per priced usage (quantity x price), largest first. A usage without a price is an error:
    a silently unpriced call would understate the total."""
    unknown = sorted(set(usage) - set(prices.prices))
    if unknown:
        raise KeyError(f"no price for {unknown}")
    lines = []
    for key, raw in usage.items():
        quantity = Decimal(str(raw))
        price = prices.prices[key]
        lines.append(CostLine(key, price.label, quantity, price.unit, price.cost(quantity)))
    return sorted(lines, key=lambda line: (-line.usd, line.key))


def total(lines: Iterable[CostLine]) -> Decimal:
    return sum((line.usd for line in lines), Decimal(0))


# -- billing units ---------------------------------------------------------------------------------------


def lambda_gb_seconds(memory_mb: int, duration_ms: float) -> Decimal:
    """Lambda bills duration rounded up to the millisecond, times the configured memory in GB."""
    billed_ms = max(1, math.ceil(duration_ms))
    return Decimal(memory_mb) / Decimal(1024) * Decimal(billed_ms) / Decimal(1000)


def chunks(size_bytes: int, chunk_bytes: int) -> int:
    """Billing chunks of a payload (at least one): EventBridge 64 KB, WebSocket messages 32 KB."""
    return max(1, math.ceil(size_bytes / chunk_bytes))


def write_units(item_bytes: int, *, transactional: bool = False) -> int:
    """Write request units of one item write: 1 per KB started (at least 1), doubled in a transaction."""
    units = max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


def read_units(item_bytes: int, consistency: str = "strong") -> Decimal:
    """Read request units of reading `item_bytes` in one request (a missing item still costs one 4 KB)."""
    return max(1, math.ceil(item_bytes / READ_UNIT_BYTES)) * READ_UNITS_PER_4KB[consistency]


def item_size(item: Mapping[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values, by the documented rules (strings and binaries
    by length, numbers about one byte per two digits plus one, 3 bytes per map/list plus 1 per element,
    1 byte for booleans and nulls). Takes the low-level `{"S": ...}` form or plain Python values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: Any) -> int:
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _TYPED:
        kind, inner = next(iter(value.items()))
        return _typed_size(kind, inner)
    return _plain_size(value)


def _typed_size(kind: str, inner: Any) -> int:
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(_binary(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    return sum(len(_binary(v)) for v in inner)  # BS


def _plain_size(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, int | float | Decimal):
        return _number_size(str(value))
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    if isinstance(value, set | frozenset):
        return sum(value_size(v) for v in value)
    binary = getattr(value, "value", None)  # boto3's Binary
    return len(binary) if isinstance(binary, bytes) else len(str(value).encode())


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def _binary(inner: Any) -> bytes:
    if isinstance(inner, bytes | bytearray):
        return bytes(inner)
    value = getattr(inner, "value", None)
    if isinstance(value, bytes):
        return value
    return base64.b64decode(str(inner))
