"""Print the REST API's OpenAPI document, built from the functions' routers: `python -m shared.openapi`.

Powertools documents each route's parameters, body and own responses; this module adds what every route
shares by contract (API.md): the error envelope with its codes (400 `validation_error`, not Powertools'
422), 401 and the bearer scheme on authorized routes, 404 on routes naming a resource, 409 on idempotent
POSTs, 429 and 503 everywhere, the Idempotency-Key's form, and the links the stateful fuzzing follows.
"""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api import build_resolver
from shared.api.idempotency import IDEMPOTENCY_HEADER, MAX_KEY_LENGTH
from shared.api.rate_limits import EXEMPT, classify
from shared.money import CURRENCY_MINOR_UNITS

# The functions that serve REST routes (a route declared in the stack without a handler answers 404).
DOCUMENTED_FUNCTIONS = (
    "invoices",
    "health",
    "create_wallet",
    "wallets",
    "providers",
    "reconcile",
    "fund",
    "pay",
    "webhooks",
    "consumer",
    "consumer_kyc",
    "consumer_transfers",
    "consumer_swaps",
    "consumer_requests",
    "consumer_money",
    "events",
    "webhook_endpoints",
    "webhook_delivery",
    "invoice_batches",
    "audit_views",
    "payouts",
)

# Methods API Gateway serves without the authorizer (infra/api.py `public=True`; a test holds them equal).
PUBLIC_OPERATIONS = frozenset(
    {
        ("get", "/health"),
        ("get", "/api/v2/invoice-wallets/{wallet_id}/countdown"),
        ("get", "/public/pay/{token}"),
        ("get", "/public/claim/{token}"),
        ("post", "/webhooks/stripe"),
    }
)

# The machine codes each status may carry (API.md's table; 503 also covers an unreachable AWS dependency).
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("validation_error", "insufficient_balance", "limit_exceeded", "invalid_state", "invalid_link"),
    401: ("unauthorized",),
    402: ("payment_failed",),
    403: ("forbidden",),
    404: ("not_found",),
    409: (
        "conflict",
        "idempotency_key_reuse",
        "idempotency_in_progress",
        "quote_expired",
        "slippage_exceeded",
    ),
    429: ("rate_limited",),
    503: ("provider_unavailable", "service_unavailable"),
}
ERROR_DESCRIPTIONS = {
    400: "validation_error (details list each field), or a domain rule's code",
    401: "unauthorized: no, malformed, badly signed or expired token",
    403: "forbidden: the caller's role may not do this",
    404: "not_found: missing, deleted or another tenant's",
    409: "conflict, idempotency_key_reuse or idempotency_in_progress",
    429: "rate_limited: retry after Retry-After seconds",
    503: "a dependency or every stablecoin provider is unavailable; nothing changed, safe to retry",
}

# Printable ASCII without blanks: HTTP strips a header's outer spaces, so a key never starts or ends with one.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$",
}

SUCCESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["success", "data"],
    "properties": {
        "success": {"const": True},
        "data": {"type": ["object", "array"]},
        "message": {"type": "string"},
    },
}


def typed_data(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A route's typed answer from the schema Powertools gives its return type: `Answer[X]` documents as
    anyOf [X, string] (the string is the body's JSON text, shared/api), so X; None for an untyped route
    (`Response[Any]` documents as a bare `{"title": "Return"}`)."""
    if not schema:
        return None
    options = [option for option in schema.get("anyOf", [schema]) if option.get("type") != "string"]
    options = [option for option in options if set(option) - {"title", "description"}]
    if not options:
        return None
    return options[0] if len(options) == 1 else {"anyOf": options}


def success_schema(data: dict[str, Any] | None) -> dict[str, Any]:
    """The success envelope around a route's typed answer, or around any object when it has none."""
    schema = copy.deepcopy(SUCCESS_SCHEMA)
    typed = typed_data(data)
    if typed:
        schema["properties"]["data"] = typed
    return schema


# Routes whose body names an existing resource (a missing one is 404).
BODY_REFERENCES = frozenset({"/api/v2/invoice-wallets/create-from-invoice"})
# A browser asking for text/html gets the hosted checkout page (and its error page) instead of JSON.
HTML_OPERATIONS = frozenset({("get", "/public/pay/{token}")})
# Headers a route reads from the raw event rather than through a typed parameter.
RAW_HEADERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("post", "/webhooks/stripe"): [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "description": "Stripe's `t=...,v1=...` signature of the raw body (5-minute tolerance)",
            "schema": {"type": "string", "minLength": 1},
        }
    ]
}


def _import_bodies() -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies a route reads from the raw event (a CSV or JSON import), documented per media type."""
    from shared.enterprise.import_rows import COLUMNS
    from shared.models.enterprise import InvoiceImportJson

    csv_schema = {"type": "string", "description": "UTF-8 (a BOM is fine), header: " + ",".join(COLUMNS)}
    return {
        ("post", "/api/v1/invoice-imports"): {
            "required": True,
            "content": {
                "text/csv": {"schema": csv_schema},
                "application/json": {"schema": InvoiceImportJson.model_json_schema()},
            },
        }
    }


_INVOICE_ID = "$response.body#/data/invoice/id"
_WALLET_ID = "$response.body#/data/wallet/wallet_id"
# Stateful fuzzing: what a create answers feeds the reads and actions on what it made.
LINKS: dict[tuple[str, str, int], dict[str, tuple[str, str, dict[str, Any]]]] = {
    ("post", "/api/v1/invoices", 201): {
        "GetInvoice": ("get", "/api/v1/invoices/{invoice_id}", {"invoice_id": _INVOICE_ID}),
        "SendInvoice": ("post", "/api/v1/invoices/{invoice_id}/send", {"invoice_id": _INVOICE_ID}),
        "VoidInvoice": ("post", "/api/v1/invoices/{invoice_id}/void", {"invoice_id": _INVOICE_ID}),
        "DeleteInvoice": ("delete", "/api/v1/invoices/{invoice_id}", {"invoice_id": _INVOICE_ID}),
        "InvoiceWallet": (
            "get",
            "/api/v2/invoice-wallets/by-invoice/{invoice_id}",
            {"invoice_id": _INVOICE_ID},
        ),
    },
    ("post", "/api/v1/invoices/create-wallet", 201): {
        "GetInvoice": (
            "get",
            "/api/v1/invoices/{invoice_id}",
            {"invoice_id": "$response.body#/data/invoiceId"},
        ),
        "GetWallet": (
            "get",
            "/api/v2/invoice-wallets/{wallet_id}",
            {"wallet_id": "$response.body#/data/walletId"},
        ),
    },
    ("post", "/api/v1/wallets/ephemeral/create", 201): {
        "GetWallet": (
            "get",
            "/api/v2/invoice-wallets/{wallet_id}",
            {"wallet_id": "$response.body#/data/walletId"},
        ),
        "Countdown": (
            "get",
            "/api/v2/invoice-wallets/{wallet_id}/countdown",
            {"wallet_id": "$response.body#/data/walletId"},
        ),
    },
}
_WALLET_LINKS = {
    "GetWallet": ("get", "/api/v2/invoice-wallets/{wallet_id}", {"wallet_id": _WALLET_ID}),
    "WalletStatus": ("get", "/api/v2/invoice-wallets/{wallet_id}/status", {"wallet_id": _WALLET_ID}),
    "Countdown": ("get", "/api/v2/invoice-wallets/{wallet_id}/countdown", {"wallet_id": _WALLET_ID}),
    "Fund": ("post", "/api/v2/invoice-wallets/{wallet_id}/fund", {"wallet_id": _WALLET_ID}),
    "Pay": ("post", "/api/v2/invoice-wallets/{wallet_id}/pay-invoice", {"wallet_id": _WALLET_ID}),
    "Transform": ("post", "/api/v2/invoice-wallets/{wallet_id}/transform", {"wallet_id": _WALLET_ID}),
}
for _status in (200, 201):
    LINKS[("post", "/api/v2/invoice-wallets/create-from-invoice", _status)] = _WALLET_LINKS


# Links that fill a request body rather than parameters: name -> (method, path, body).
BODY_LINKS: dict[tuple[str, str, int], dict[str, tuple[str, str, dict[str, Any]]]] = {
    ("post", "/api/v1/invoices", 201): {
        "CreateWallet": ("post", "/api/v2/invoice-wallets/create-from-invoice", {"invoice_id": _INVOICE_ID}),
    },
}


def _pointer(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _error_schema(status: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "error", "code", "details"],
        "properties": {
            "success": {"const": False},
            "error": {"type": "string"},
            "code": {"type": "string", "enum": list(ERROR_CODES.get(status, ("internal_error",)))},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }


def _statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses every operation of this shape can answer, beside its own declared ones."""
    names = {(p["in"], p["name"].lower()) for p in operation.get("parameters", [])}
    # 429 only where the rate limiter counts (`with_rate_limits`), never on Stripe's webhooks or /health.
    statuses = {400, 503}
    if (method, path) not in PUBLIC_OPERATIONS:
        statuses |= {401, 403}
    if any(where == "path" for where, _ in names):
        statuses.add(404)
    if method != "get":
        # An idempotency key reused or still running, or a conditional write that lost a race.
        statuses.add(409)
    if path in BODY_REFERENCES:
        statuses.add(404)
    return statuses


def conform(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools' document with the contract's shared responses, security, header forms and links."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    document["security"] = [{"bearerAuth": []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            _conform_operation(method, path, operation)
    return document


def _conform_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    if (method, path) in PUBLIC_OPERATIONS:
        operation["security"] = []
    operation.setdefault("parameters", []).extend(copy.deepcopy(RAW_HEADERS.get((method, path), [])))
    if raw_body := _import_bodies().get((method, path)):
        operation["requestBody"] = raw_body
    if not operation["parameters"]:
        operation.pop("parameters")
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == IDEMPOTENCY_HEADER.lower():
            parameter["name"] = IDEMPOTENCY_HEADER
            parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)
    for status in sorted(_statuses(method, path, operation)):
        responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
    for status_text, response in responses.items():
        code = int(status_text)
        content = response.setdefault("content", {})
        if code >= 400:
            content["application/json"] = {"schema": _error_schema(code)}
        else:
            typed = content.get("application/json", {}).get("schema")
            content["application/json"] = {"schema": success_schema(typed)}
        if (method, path) in HTML_OPERATIONS and code in (200, 400):
            content["text/html"] = {"schema": {"type": "string"}}
        links = {
            name: {"operationRef": _pointer(target, verb), "parameters": parameters}
            for name, (verb, target, parameters) in LINKS.get((method, path, code), {}).items()
        }
        links |= {
            name: {"operationRef": _pointer(target, verb), "requestBody": body}
            for name, (verb, target, body) in BODY_LINKS.get((method, path, code), {}).items()
        }
        if links:
            response["links"] = links
    if code_429 := responses.get("429"):
        code_429.setdefault("headers", {})["Retry-After"] = {
            "description": "seconds until the caller may try again",
            "schema": {"type": "string"},
            "required": True,
        }


def _currency_enum(document: dict[str, Any]) -> None:
    """A currency is one of the supported ISO 4217 codes (the models refuse the rest with their message)."""
    for schema in document.get("components", {}).get("schemas", {}).values():
        currency = schema.get("properties", {}).get("currency")
        if currency and currency.get("pattern") == "^[A-Z]{3}$":
            currency.pop("pattern")
            currency["enum"] = sorted(CURRENCY_MINOR_UNITS)


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
                operation.setdefault("responses", {})["429"] = copy.deepcopy(RATE_LIMITED)
    return document


DESCRIPTION = (
    "Invoice-first ephemeral wallets. Errors use the envelope "
    '{"success": false, "error", "code", "details"}; amounts are decimal strings. Every route but '
    "Stripe's webhooks and /health is rate limited per caller (429 rate_limited with Retry-After); an "
    "admitted answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset of the caller's "
    "tightest window."
)


def function_routers(name: str) -> tuple[Router, ...]:
    """Every router the function composes in its `rest_function`: its handler's `routers` when its routes
    are split over several modules beside it (payouts), else its one `router`."""
    handler = importlib.import_module(f"functions.{name}.handler")
    routers = getattr(handler, "routers", None)
    return tuple(routers) if routers is not None else (handler.router,)


def openapi_document() -> str:
    app = build_resolver()
    for name in DOCUMENTED_FUNCTIONS:
        for router in function_routers(name):
            app.include_router(router)
    generated = json.loads(
        app.get_openapi_json_schema(
            title="Monay Wallets API",
            version="1.0.0",
            description=DESCRIPTION,
        )
    )
    document = conform(with_rate_limits(generated))
    _currency_enum(document)
    return json.dumps(document, indent=2)


if __name__ == "__main__":
    print(openapi_document())
