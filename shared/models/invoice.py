"""Invoices: the create schema, the entity with its computed totals, and the status machine."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.errors import InvalidState
from shared.models.common import (
    MAX_METADATA_KEYS,
    WHOLE_NUMBER,
    FiatAmount,
    Identifier,
    IsoDate,
    LongText,
    MetadataKey,
    MetadataValue,
    ShortText,
    check_text,
)
from shared.money import CURRENCY_MINOR_UNITS, MAX_AMOUNT, decimals_of, format_amount, minor_units, quantize
from shared.outbox.records import iso

MAX_LINE_ITEMS = 100
MAX_QUANTITY = 1_000_000


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"
    VOID = "void"


# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[InvoiceStatus], InvoiceStatus]] = {
    "send": (frozenset({InvoiceStatus.DRAFT}), InvoiceStatus.SENT),
    "void": (
        frozenset(
            {InvoiceStatus.DRAFT, InvoiceStatus.SENT, InvoiceStatus.OVERDUE, InvoiceStatus.PARTIALLY_PAID}
        ),
        InvoiceStatus.VOID,
    ),
}
DELETABLE = frozenset({InvoiceStatus.DRAFT, InvoiceStatus.VOID})
# A wallet may take money only for an invoice in one of these (API.md: fund: sent, partially paid, overdue).
# A draft is never fundable: a merchant's wallet creation sends its draft first, and to a consumer a draft
# has no wallet at all.
FUNDABLE = frozenset({InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.OVERDUE})


def next_status(current: InvoiceStatus, action: str) -> InvoiceStatus:
    """The status `action` leads to from `current`, or InvalidState."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        raise InvalidState(f"cannot {action} an invoice that is {current.value}")
    return target


def ensure_deletable(current: InvoiceStatus) -> None:
    if current not in DELETABLE:
        raise InvalidState(f"only draft or void invoices can be deleted; this one is {current.value}")


# A percentage of 0-100 with at most 4 decimals, as the OpenAPI document states it (TAX_RATE_SCHEMA).
TAX_RATE_PATTERN = r"^(?:100(?:\.0+)?|(?:0|[1-9][0-9]?)(?:\.[0-9]{1,4}0*)?)$"
TAX_RATE_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 100, "multipleOf": 0.0001},
        {"type": "string", "pattern": TAX_RATE_PATTERN},
    ],
    "description": 'a percentage, 0-100, at most 4 decimals: 8.25 or "8.25"',
}
_TAX_RATE_TEXT = re.compile(TAX_RATE_PATTERN)


def _parse_tax_rate(value: Any) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, int | str | Decimal):
        raise ValueError("tax_rate must be a JSON number or a decimal string")
    if isinstance(value, str) and not _TAX_RATE_TEXT.fullmatch(value):
        raise ValueError("tax_rate must be a percentage between 0 and 100 such as 8.25")
    rate = Decimal(value)
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise ValueError("tax_rate must be a percentage between 0 and 100")
    if decimals_of(rate) > 4:
        raise ValueError("tax_rate must have at most 4 decimals")
    return rate


TaxRate = Annotated[Decimal, BeforeValidator(_parse_tax_rate), WithJsonSchema(TAX_RATE_SCHEMA)]


class LineItemInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    description: LongText
    quantity: Annotated[int, Field(strict=True, gt=0, le=MAX_QUANTITY), WHOLE_NUMBER]
    unit_price: FiatAmount
    tax_rate: TaxRate | None = None


class RecurringSchedule(BaseModel):
    """`recurring` of an invoice that repeats: the next invoice is made at each period's start (every
    `interval_count` weeks or months from this one), `end_after` invoices in all when given."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    interval: Literal["week", "month"]
    interval_count: Annotated[int, Field(strict=True, ge=1, le=52), WHOLE_NUMBER] = 1
    end_after: Annotated[int, Field(strict=True, ge=1, le=1000), WHOLE_NUMBER] | None = None


class InvoiceCreate(BaseModel):
    """Body of POST /api/v1/invoices."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    customer_id: Identifier
    currency: Annotated[str, Field(strict=True, pattern=r"^[A-Z]{3}$")]
    line_items: Annotated[list[LineItemInput], Field(min_length=1, max_length=MAX_LINE_ITEMS)]
    due_date: IsoDate
    # `true` marks a recurring invoice for wallet mode only; a schedule also makes the next ones.
    recurring: StrictBool | RecurringSchedule = False
    category: ShortText | None = None
    payment_type: Literal["one_time", "recurring"] | None = None
    enterprise_wallet_address: Annotated[str, Field(strict=True, pattern=r"^0x[0-9a-fA-F]{40}$")] | None = (
        None
    )
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)] | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_MINOR_UNITS:
            raise ValueError("currency must be a supported ISO 4217 code")
        return value

    @field_validator("metadata")
    @classmethod
    def _clean_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for text in (value or {}).values():
            check_text(text)
        return value

    @field_validator("line_items")
    @classmethod
    def _fit_currency_and_bounds(cls, items: list[LineItemInput], info: Any) -> list[LineItemInput]:
        currency = info.data.get("currency")
        if currency is None:
            return items
        places = minor_units(currency)
        for index, item in enumerate(items):
            if decimals_of(item.unit_price) > places:
                raise ValueError(f"line_items[{index}].unit_price has more decimals than {currency} allows")
        if price_lines(items, currency).total > MAX_AMOUNT:
            raise ValueError(f"the invoice total must be at most {MAX_AMOUNT}")
        return items

    @model_validator(mode="after")
    def _payment_type_matches_recurring(self) -> InvoiceCreate:
        if self.payment_type == "one_time" and self.recurring:
            raise ValueError("payment_type one_time contradicts recurring: true")
        return self

    @property
    def resolved_payment_type(self) -> str:
        return self.payment_type or ("recurring" if self.recurring else "one_time")

    @property
    def schedule(self) -> RecurringSchedule | None:
        return self.recurring if isinstance(self.recurring, RecurringSchedule) else None


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    description: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal
    tax_amount: Decimal


class PricedLines(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    lines: list[InvoiceLine]
    subtotal: Decimal
    tax_amount: Decimal
    total: Decimal


def price_lines(items: list[LineItemInput], currency: str) -> PricedLines:
    """Line amounts, per-line tax rounded half up to the currency's minor unit, and the totals."""
    places = minor_units(currency)
    lines = []
    for item in items:
        rate = item.tax_rate if item.tax_rate is not None else Decimal(0)
        amount = quantize(item.unit_price * item.quantity, places)
        tax = quantize(amount * rate / 100, places)
        lines.append(
            InvoiceLine(
                description=item.description,
                quantity=item.quantity,
                unit_price=item.unit_price,
                tax_rate=rate,
                amount=amount,
                tax_amount=tax,
            )
        )
    subtotal = sum((line.amount for line in lines), Decimal(0))
    tax_amount = sum((line.tax_amount for line in lines), Decimal(0))
    return PricedLines(lines=lines, subtotal=subtotal, tax_amount=tax_amount, total=subtotal + tax_amount)


class Invoice(BaseModel):
    """An invoice as the domain holds it; amounts are Decimal in major units of `currency`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    number: str
    tenant_id: str
    customer_id: str
    currency: str
    status: InvoiceStatus
    line_items: list[InvoiceLine]
    subtotal: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    amount_paid: Decimal = Decimal(0)
    due_date: date
    recurring: bool = False
    schedule: RecurringSchedule | None = None
    category: str | None = None
    payment_type: str = "one_time"
    enterprise_wallet_address: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_by: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    voided_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def amount_due(self) -> Decimal:
        return self.total_amount - self.amount_paid

    def to_api(self) -> dict[str, Any]:
        """The response shape: amounts as decimal strings, times as ISO-8601 UTC."""
        places = minor_units(self.currency)
        return {
            "id": self.id,
            "object": "invoice",
            "number": self.number,
            "tenant_id": self.tenant_id,
            "customer_id": self.customer_id,
            "currency": self.currency,
            "status": self.status.value,
            "line_items": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": format_amount(line.unit_price, places),
                    "tax_rate": f"{line.tax_rate.normalize():f}",
                    "amount": format_amount(line.amount, places),
                    "tax_amount": format_amount(line.tax_amount, places),
                }
                for line in self.line_items
            ],
            "subtotal": format_amount(self.subtotal, places),
            "tax_amount": format_amount(self.tax_amount, places),
            "total_amount": format_amount(self.total_amount, places),
            "amount_paid": format_amount(self.amount_paid, places),
            "amount_due": format_amount(self.amount_due, places),
            "due_date": self.due_date.isoformat(),
            "recurring": self.recurring,
            "recurring_schedule": self.schedule.model_dump() if self.schedule else None,
            "category": self.category,
            "payment_type": self.payment_type,
            "enterprise_wallet_address": self.enterprise_wallet_address,
            "metadata": dict(self.metadata),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "sent_at": iso(self.sent_at) if self.sent_at else None,
            "voided_at": iso(self.voided_at) if self.voided_at else None,
        }
