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
    return list(request.rows), request.reference or reference
