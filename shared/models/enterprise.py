"""API output models of the enterprise views: audit entries and destruction logs (typed, for OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models.output import Output


class AuditResource(Output):
    type: str
    id: str


class AuditEntryOut(Output):
    id: str
    actor: str
    action: str
    resource: AuditResource
    ip_address: str | None
    request_id: str | None
    changes: dict[str, Any]
    at: str


class AuditPageOut(Output):
    entries: list[AuditEntryOut]
    next_cursor: str | None
    has_more: bool


class DestructionLogOut(Output):
    wallet_id: str
    method: str
    record: str
    facts: dict[str, Any] | None
    verification_hash: str
    verified: bool
    created_at: str


class DestructionLogPageOut(Output):
    destruction_logs: list[DestructionLogOut]
    next_cursor: str | None
    has_more: bool


MAX_IMPORT_ROWS = 10_000
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class InvoiceImportJson(BaseModel):
    """JSON body of POST /api/v1/invoice-imports: rows named as the CSV header's columns. Each row is checked
    on its own (a bad row is a row error in the import, not a 400 of the whole request)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    rows: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_IMPORT_ROWS,
            description="external_id, customer_id, currency, due_date, description, quantity, unit_price, "
            "tax_rate?",
            json_schema_extra={"items": {"type": "object"}},
        ),
    ]
    reference: Annotated[str, Field(strict=True, pattern=REFERENCE_PATTERN)] | None = None


class RowErrorOut(Output):
    row: int
    field: str
    error: str


class ImportOut(Output):
    id: str
    object: Literal["invoice_import"] = "invoice_import"
    status: Literal["queued", "running", "completed", "completed_with_errors"]
    reference: str | None
    rows: int
    invoices: int
    created: int
    failed: int
    errors: list[RowErrorOut]
    created_at: str
    completed_at: str | None


class ImportData(Output):
    import_: ImportOut = Field(alias="import")

    model_config = ConfigDict(populate_by_name=True)
