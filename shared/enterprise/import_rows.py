"""Invoice import rows: reading a CSV (or JSON rows) into invoices, each row checked with its row number.

The CSV is read by the standard `csv` module in strict mode (RFC 4180 quoting; a stray quote is an error,
not a guess), after decoding as UTF-8 with an optional BOM; CRLF and LF line ends both work. Cells are
text and stay text: a cell starting with `=`, `+`, `-` or `@` is never evaluated (a description keeps it
verbatim; an amount like `-5` is simply not a valid amount). Rows sharing an `external_id` form one invoice
and must agree on its customer, currency and due date. Row 1 is the first data row (after the header).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from shared.errors import ValidationFailed
from shared.models.common import FiatAmount, Identifier, IsoDate, LongText
from shared.models.invoice import MAX_QUANTITY, InvoiceCreate, TaxRate
from shared.money import CURRENCY_MINOR_UNITS, decimals_of, minor_units

MAX_ROWS = 10_000
COLUMNS = (
    "external_id",
    "customer_id",
    "currency",
    "due_date",
    "description",
    "quantity",
    "unit_price",
    "tax_rate",
)
REQUIRED = frozenset(COLUMNS) - {"tax_rate"}
GROUP_FIELDS = ("customer_id", "currency", "due_date")


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    error: str


@dataclass
class ImportInvoice:
    """One invoice of the import: its rows' numbers and the create body they make."""

    external_id: str
    rows: list[int]
    request: InvoiceCreate


@dataclass
class ParsedImport:
    rows: int
    invoices: list[ImportInvoice] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    failed: int = 0


def _quantity(value: Any) -> Any:
    """A whole number as a CSV cell ("3") or a JSON number (3, 3.0); anything else is left to fail."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _known_currency(value: Any) -> Any:
    if isinstance(value, str) and value not in CURRENCY_MINOR_UNITS:
        raise ValueError("currency must be a supported ISO 4217 code")
    return value


class ImportRow(BaseModel):
    """One row, as the CSV header names its columns (JSON rows use the same names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: Identifier
    customer_id: Identifier
    currency: Annotated[str, Field(strict=True, pattern=r"^[A-Z]{3}$"), BeforeValidator(_known_currency)]
    due_date: IsoDate
    description: LongText
    quantity: Annotated[int, Field(strict=True, gt=0, le=MAX_QUANTITY), BeforeValidator(_quantity)]
    unit_price: FiatAmount
    tax_rate: Annotated[TaxRate | None, BeforeValidator(_blank_is_none)] = None


def read_csv(body: bytes) -> list[dict[str, Any]]:
    """The data rows of a CSV import as dicts of the header's columns, or ValidationFailed for the file."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise file_error("encoding", f"the file is not UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), dialect="excel", strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise file_error("header", "the file is empty")
        names = [name.strip() for name in header]
        if set(names) - set(COLUMNS) or not set(names) >= REQUIRED or len(set(names)) != len(names):
            raise file_error("header", f"the header must name the columns {', '.join(COLUMNS)}")
        rows: list[dict[str, Any]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                raise file_error("rows", f"at most {MAX_ROWS} rows")
            if len(cells) != len(names):
                # Kept as a row of its own error rather than shifting values into the wrong columns.
                rows.append({"__cells__": len(cells)})
                continue
            rows.append(dict(zip(names, cells, strict=True)))
    except csv.Error as exc:
        raise file_error("body", f"line {reader.line_num}: {exc}") from exc
    if not rows:
        raise file_error("rows", "the file has a header but no rows")
    return rows


def split_rows(rows: list[Any]) -> list[list[tuple[int, Any]]]:
    """The rows (numbered from 1) grouped by their external_id as given, in order of first appearance; a row
    without a usable one stands alone (its check reports it). Cheap: no row is checked here."""
    groups: dict[str, list[tuple[int, Any]]] = {}
    for number, raw in enumerate(rows, start=1):
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        key = external_id if isinstance(external_id, str) else f"#{number}"
        groups.setdefault(key, []).append((number, raw))
    return list(groups.values())


def group_rows(rows: list[Any]) -> ParsedImport:
    """Check each row, group them by external_id and check each invoice; a bad row fails its invoice."""
    return check_rows(list(enumerate(rows, start=1)))


def check_rows(numbered: list[tuple[int, Any]]) -> ParsedImport:
    """As group_rows, over rows that keep their numbers in the whole import (one batch's groups)."""
    parsed = ParsedImport(rows=len(numbered))
    groups: dict[str, list[tuple[int, ImportRow]]] = {}
    bad_groups: set[str] = set()
    for number, raw in numbered:
        row, errors = _check_row(number, raw)
        parsed.errors.extend(errors)
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        if row is None:
            if isinstance(external_id, str):
                bad_groups.add(external_id)
            else:
                parsed.failed += 1
            continue
        group = groups.setdefault(row.external_id, [])
        if group:
            first = group[0][1]
            clashes = [name for name in GROUP_FIELDS if getattr(row, name) != getattr(first, name)]
            for name in clashes:
                message = f"external_id {row.external_id} repeats with a different {name} (row {group[0][0]})"
                parsed.errors.append(RowError(number, name, message))
            if clashes:
                bad_groups.add(row.external_id)
        group.append((number, row))
    for external_id, members in groups.items():
        if external_id in bad_groups:
            continue
        invoice, errors = _invoice_of(external_id, members)
        parsed.errors.extend(errors)
        if invoice is None:
            bad_groups.add(external_id)
        else:
            parsed.invoices.append(invoice)
    parsed.failed += len(bad_groups)
    parsed.errors.sort(key=lambda error: (error.row, error.field))
    return parsed


def _check_row(number: int, raw: Any) -> tuple[ImportRow | None, list[RowError]]:
    if not isinstance(raw, dict):
        return None, [RowError(number, "row", "must be an object of the import's columns")]
    if "__cells__" in raw:
        return None, [RowError(number, "row", f"has {raw['__cells__']} cells; the header has {len(COLUMNS)}")]
    try:
        row = ImportRow.model_validate(raw)
    except ValidationError as invalid:
        return None, [
            RowError(number, str(error["loc"][0]) if error["loc"] else "row", message_of(error))
            for error in invalid.errors()
        ]
    if decimals_of(row.unit_price) > minor_units(row.currency):
        return None, [RowError(number, "unit_price", f"has more decimals than {row.currency} allows")]
    return row, []


def _invoice_of(
    external_id: str, members: list[tuple[int, ImportRow]]
) -> tuple[ImportInvoice | None, list[RowError]]:
    first = members[0][1]
    body = {
        "customer_id": first.customer_id,
        "currency": first.currency,
        "due_date": first.due_date.isoformat(),
        "line_items": [
            {
                "description": row.description,
                "quantity": row.quantity,
                "unit_price": row.unit_price,
                **({"tax_rate": row.tax_rate} if row.tax_rate is not None else {}),
            }
            for _, row in members
        ],
        "metadata": {"external_id": external_id},
    }
    numbers = [number for number, _ in members]
    try:
        request = InvoiceCreate.model_validate(body)
    except ValidationError as invalid:
        errors = []
        for error in invalid.errors():
            loc = error["loc"]
            if len(loc) >= 3 and loc[0] == "line_items" and isinstance(loc[1], int):
                errors.append(RowError(numbers[loc[1]], str(loc[2]), message_of(error)))
            else:
                errors.append(RowError(numbers[0], str(loc[0]) if loc else "row", message_of(error)))
        return None, errors
    return ImportInvoice(external_id, numbers, request), []


def message_of(error: Any) -> str:
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def file_error(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        "the import file is invalid", [{"field": field_name, "message": message, "type": "value_error"}]
    )
