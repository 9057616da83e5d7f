"""Print the REST API's OpenAPI document, built from the functions' routers: `python -m shared.openapi`."""

from __future__ import annotations

import importlib
import json
from typing import Any

from shared.api import build_resolver
from shared.api.rate_limits import EXEMPT, classify

# Functions whose routes exist; placeholders answer 404 and are left out until their issues land.
DOCUMENTED_FUNCTIONS = (
    "invoices",
    "health",
    "create_wallet",
    "wallets",
    "providers",
    "reconcile",
    "fund",
    "webhooks",
    "consumer",
)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


RATE_LIMITED = {
    "description": "rate_limited: over the caller's rate limit (or the tenant's live ephemeral wallet cap); "
    "nothing was done",
    "headers": {
        "Retry-After": _header("seconds until the caller may try again"),
        "RateLimit-Limit": _header("the limit of the window that refused"),
        "RateLimit-Remaining": _header("always 0 on a 429"),
        "RateLimit-Reset": _header("seconds until that window resets"),
    },
}


def with_rate_limits(document: dict[str, Any]) -> dict[str, Any]:
    """A 429 on every operation the rate limiter counts (all but Stripe's webhooks and the health probe)."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if classify(method.upper(), path)[0] != EXEMPT:
                operation.setdefault("responses", {})["429"] = RATE_LIMITED
    return document


def openapi_document() -> str:
    app = build_resolver()
    for name in DOCUMENTED_FUNCTIONS:
        app.include_router(importlib.import_module(f"functions.{name}.handler").router)
    document = app.get_openapi_json_schema(
        title="Monay Wallets API",
        version="1.0.0",
        description="Invoice-first ephemeral wallets. Errors use the envelope "
        '{"success": false, "error", "code", "details"}; amounts are decimal strings. Every route but '
        "Stripe's webhooks and /health is rate limited per caller (429 rate_limited with Retry-After); an "
        "admitted answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset of the caller's "
        "tightest window.",
    )
    return json.dumps(with_rate_limits(json.loads(document)), indent=2)


if __name__ == "__main__":
    print(openapi_document())
    json.loads(openapi_document())
