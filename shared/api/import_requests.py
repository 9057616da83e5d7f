"""An invoice import request's body: a CSV (text/csv) or JSON `{rows, reference}`, by Content-Type."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.api import parse_json
from shared.enterprise.import_rows import file_error, message_of, read_csv
from shared.errors import ValidationFailed
from shared.models.enterprise import InvoiceImportJson


def import_body(body: bytes, headers: dict[str, Any], reference: str | None) -> tuple[list[Any], str | None]:
    """The rows and reference of an import request: a CSV (reference from the query) or JSON
    `{rows, reference}` (InvoiceImportJson), by Content-Type; ValidationFailed for the whole request."""
    content_type = next((str(v) for k, v in headers.items() if str(k).lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() == "text/csv":
        return read_csv(body), reference
    try:
        request = InvoiceImportJson.model_validate(parse_json(body))
    except (ValueError, ValidationError) as invalid:
        errors = invalid.errors() if isinstance(invalid, ValidationError) else []
        details = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "body",
                "message": message_of(e),
                "type": e["type"],
            }
            for e in errors[:20]
        ] or [
            {"field": "body", "message": "must be JSON {rows, reference?} or a text/csv file", "type": "json"}
        ]
        raise ValidationFailed("the import request is invalid", details) from None
    if reference is not None and request.reference is not None and reference != request.reference:
        raise file_error("reference", "the query and the body name different references")
    bad = [_row_problem(index, row) for index, row in enumerate(request.rows)]
    if details := [problem for problem in bad if problem][:20]:
        raise ValidationFailed("the import request is invalid", details)
    return list(request.rows), request.reference or reference


# A row is stored as it came until the worker checks it, so what is stored must be storable: an object of
# plain values (a nested value, a non-finite or out-of-range number, or text that is not UTF-8 would make the
# table write fail after the request had been accepted).
_LARGEST = 1e38


def _row_problem(index: int, row: Any) -> dict[str, Any] | None:
    where = f"rows.{index}"
    if not isinstance(row, dict):
        return {"field": where, "message": "each row must be an object of its columns", "type": "type_error"}
    for key, value in row.items():
        texts = [key, value] if isinstance(value, str) else [key]
        if not all(_utf8(text) for text in texts):
            return {"field": f"{where}.{key!r}", "message": "text must be valid UTF-8", "type": "value_error"}
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int | float) and abs(value) < _LARGEST:
            continue
        return {
            "field": f"{where}.{key}",
            "message": "a column's value must be text, a number or null",
            "type": "type_error",
        }
    return None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
