"""docs/openapi.json is what the routers generate today."""

from __future__ import annotations

import json
from pathlib import Path

from shared.openapi import openapi_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_openapi_document_is_current() -> None:
    generated = json.loads(openapi_document())
    assert json.loads(DOC.read_text()) == generated, "run: python -m shared.openapi > docs/openapi.json"
    assert {"/api/v1/invoices", "/api/v1/invoices/{invoice_id}", "/health"} <= set(generated["paths"])
