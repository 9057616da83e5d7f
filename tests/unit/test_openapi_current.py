"""docs/openapi.json is what the routers generate today."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.openapi import openapi_document

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_openapi_document_is_current() -> None:
    generated = json.loads(openapi_document())
    assert json.loads(DOC.read_text()) == generated, "run: python -m shared.openapi > docs/openapi.json"
    assert {"/api/v1/invoices", "/api/v1/invoices/{invoice_id}", "/health"} <= set(generated["paths"])


def _data_schemas(document: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    schema = response["content"]["application/json"]["schema"]
                    found[f"{method.upper()} {path} {status}"] = schema["properties"]["data"]
    return found


def test_every_success_answer_is_a_typed_model() -> None:
    """Each route's 2xx `data` is one of its typed output models (a $ref to a component with properties),
    never the envelope's untyped object: a route left at `Response[Any]` fails here."""
    document = json.loads(DOC.read_text())
    schemas = document["components"]["schemas"]
    untyped = {}
    for where, data in _data_schemas(document).items():
        refs = [option.get("$ref", "") for option in data.get("anyOf", [data])]
        names = [ref.removeprefix("#/components/schemas/") for ref in refs]
        if not all(ref.startswith("#/components/schemas/") for ref in refs) or not all(
            schemas[name].get("properties") and schemas[name].get("additionalProperties") is False
            for name in names
        ):
            untyped[where] = data
    assert not untyped, untyped
    assert len(_data_schemas(document)) >= 40
