"""The REST edge every function shares: envelope, error mapping, request ids, CORS and the resolver."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from pydantic import BaseModel

from shared.auth import Principal, principal_from_event
from shared.config import Settings, get_settings
from shared.errors import NotFound, RateLimited, ValidationFailed, WalletsError
from shared.outbox.request_origin import RequestOrigin, serving

MAX_BODY_BYTES = 256 * 1024
MAX_DETAILS = 50
ALLOWED_HEADERS = (
    "Content-Type, Authorization, Idempotency-Key, X-Invoice-ID, X-Wallet-Mode, X-Provider-Preference"
)
EXPOSED_HEADERS = "X-Request-ID, X-Wallet-ID, X-Countdown-Seconds, X-Provider-Used, Idempotent-Replayed"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

logger = Logger()


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def parse_json(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal (money never passes through float).

    Everything a hostile body can make the decoder raise becomes a JSONDecodeError, which the
    resolver's validation turns into a 400 rather than a 500.
    """
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        source = text if isinstance(text, str) else ""
        raise json.JSONDecodeError(f"unreadable JSON: {type(exc).__name__}", source, 0) from exc


def envelope_error(error: WalletsError) -> dict[str, Any]:
    return {
        "success": False,
        "error": error.message,
        "code": error.code,
        "details": error.details[:MAX_DETAILS],
    }


def error_response(error: WalletsError, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=error.status,
        content_type="application/json",
        body=json.dumps(envelope_error(error)),
        headers={**error.headers, **(headers or {})},
    )


def as_data(data: Any) -> Any:
    """A typed output model (shared/models/output.py) as JSON-ready data; anything else as it is."""
    return (
        data.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if isinstance(data, BaseModel)
        else data
    )


AnswerT = TypeVar("AnswerT")

Answer = Response[AnswerT | str]
"""A route's return type: `-> Answer[InvoiceAnswer]` says the envelope's `data` is that typed output model
(shared/models/output.py), so the OpenAPI document shows it (shared/openapi.py wraps it in the envelope and
drops the `str`). The `str` is the body as `ok` writes it, JSON text: Powertools' response validation sees a
string and passes it through, so typing a route costs nothing per request and changes no byte of it."""


def answer(model: type[BaseModel], description: str = "OK") -> dict[str, Any]:
    """One success status's own model, for a route whose statuses answer different models (fund: 200
    funded, 202 processing): `responses={202: answer(FundingProcessing, "...")}`. Other routes need only
    their `Answer[...]` return type."""
    return {"description": description, "content": {"application/json": {"model": model}}}


def ok(
    data: Any, status: int = 200, message: str | None = None, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    """A success envelope; `data` is a typed output model, or data already holding amounts as strings."""
    body: dict[str, Any] = {"success": True, "data": as_data(data)}
    if message:
        body["message"] = message
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body),
        headers=dict(headers or {}),
    )


def _details(errors: list[Any]) -> list[dict[str, str]]:
    details = []
    for error in errors[:MAX_DETAILS]:
        loc = [str(part) for part in error.get("loc", ())]
        if len(loc) > 1 and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            loc = ["body"]
        details.append({"field": ".".join(loc) or "body", "message": message, "type": str(error.get("type"))})
    return details


def validation_failed(errors: list[Any]) -> ValidationFailed:
    return ValidationFailed("the request is invalid", _details(errors))


def build_resolver() -> APIGatewayRestResolver:
    """A REST resolver validating requests with pydantic and answering every failure in the envelope."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[str]:
        return error_response(validation_failed(list(error.errors())))

    @app.exception_handler(WalletsError)  # type: ignore[untyped-decorator]
    def _domain(error: WalletsError) -> Response[str]:
        if error.status >= 500:
            logger.warning("dependency failure", extra={"code": error.code, "error": error.message})
        return error_response(error)

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def _service(error: ServiceError) -> Response[str]:
        if error.status_code == 404:
            return error_response(NotFound("no such route"))
        logger.error("unexpected service error", extra={"status": error.status_code})
        return error_response(WalletsError("internal error"))

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _bug(error: Exception) -> Response[str]:
        # A 5xx is a bug: log everything with the request id, tell the caller nothing internal.
        logger.exception("unhandled error", extra={"request_id": app.context.get("request_id")})
        return error_response(WalletsError("internal error"))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return error_response(NotFound("no such route"))

    return app


def _header(event: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def request_id_of(event: Mapping[str, Any]) -> str:
    """The caller's X-Request-ID when it is sane, else API Gateway's id for this request, else a new one."""
    sent = _header(event, REQUEST_ID_HEADER)
    if isinstance(sent, str) and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    gateway_id = (event.get("requestContext") or {}).get("requestId")
    if isinstance(gateway_id, str) and _SANE_REQUEST_ID.fullmatch(gateway_id):
        return gateway_id
    return str(uuid.uuid4())


def cors_headers(origin: str | None, settings: Settings) -> dict[str, str]:
    """CORS for an allowed Origin, echoed back; Vary always, since the answer depends on Origin.

    Written here rather than with Powertools' CORSConfig because that adds headers outside the contract's
    list, sets no Vary, and is not applied to the not-found and exception responses.
    """
    headers = {"Vary": "Origin"}
    if origin and origin in settings.cors_origins:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Expose-Headers": EXPOSED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        )
    return headers


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8", errors="surrogatepass"))


def _too_large(limit: int = MAX_BODY_BYTES) -> ValidationFailed:
    detail = {"field": "body", "message": f"body must be at most {limit} bytes", "type": "too_large"}
    return ValidationFailed("the request body is too large", [detail])


def _not_json(event: Mapping[str, Any], also_accept: tuple[str, ...] = ()) -> bool:
    """A body sent as another media type: Powertools would parse forms and multipart into the models, or
    fail on the rest; this API speaks JSON only (no Content-Type at all is read as JSON), except the media
    types a function reads itself (`also_accept`, such as text/csv for invoice imports)."""
    content_type = _header(event, "content-type")
    if not event.get("body") or not content_type:
        return False
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in also_accept:
        return False
    return media_type != "application/json" and not media_type.endswith("+json")


def _utf8_body(event: Mapping[str, Any]) -> bool:
    """JSON is UTF-8 (RFC 8259). The gateway hands over a body that is not as base64, which the resolver would
    decode into a UnicodeDecodeError (a 500): such a body is refused before it."""
    body = event.get("body")
    if not event.get("isBase64Encoded") or not isinstance(body, str):
        return True
    try:
        base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return True


def _not_utf8_error() -> ValidationFailed:
    detail = {"field": "body", "message": "must be UTF-8 encoded JSON", "type": "encoding"}
    return ValidationFailed("the request body is not UTF-8", [detail])


def _not_json_error() -> ValidationFailed:
    detail = {"field": "Content-Type", "message": "must be application/json", "type": "media_type"}
    return ValidationFailed("the request body is not JSON", [detail])


def handle_api_event(
    app: APIGatewayRestResolver,
    event: dict[str, Any],
    context: Any,
    settings: Settings | None = None,
    *,
    also_accept: tuple[str, ...] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """Resolve one API Gateway (v1) event through `app`, adding request id and CORS to every answer."""
    settings = settings or get_settings()
    request_id = request_id_of(event)
    origin = _header(event, "origin")
    logger.append_keys(request_id=request_id)
    if event.get("httpMethod") == "OPTIONS":
        result: dict[str, Any] = {"statusCode": 204, "body": "", "isBase64Encoded": False, "headers": {}}
    elif _body_size(event) > max_body_bytes:
        result = _plain(error_response(_too_large(max_body_bytes)))
    elif _not_json(event, also_accept):
        result = _plain(error_response(_not_json_error()))
    elif not _utf8_body(event):
        result = _plain(error_response(_not_utf8_error()))
    else:
        result = _resolve_within_limits(app, event, context, request_id)
    extra = {REQUEST_ID_HEADER: request_id, **cors_headers(origin, settings)}
    _merge_headers(result, extra)
    return result


def _resolve_within_limits(
    app: APIGatewayRestResolver, event: dict[str, Any], context: Any, request_id: str
) -> dict[str, Any]:
    """The route's answer if the caller is within its rate limits (shared.api.rate_limits), else 429 with
    nothing done; an admitted answer carries the tightest window's RateLimit-* headers."""
    from shared.bootstrap import app as capabilities  # the limiter's table client, built on first use

    try:
        admission = capabilities().adapters.rate_limiter.admit(event)
    except WalletsError as refused:
        if refused.status >= 500:
            logger.warning("rate limiter unavailable", extra={"code": refused.code, "error": refused.message})
        return _plain(error_response(refused))
    app.context["request_id"] = request_id
    identity = (event.get("requestContext") or {}).get("identity") or {}
    source_ip = identity.get("sourceIp") if isinstance(identity.get("sourceIp"), str) else None
    with serving(RequestOrigin(ip_address=source_ip, request_id=request_id)):
        result = app.resolve(event, context)
    # A route's own 429 (the live-wallet cap) reports its own limit rather than the window's.
    if admission is not None and result.get("statusCode") != RateLimited.status:
        _merge_headers(result, admission.headers())
    return result


def _plain(response: Response[str]) -> dict[str, Any]:
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    headers = {"Content-Type": response.content_type or "application/json", **response.headers}
    return {"statusCode": response.status_code, "body": body, "isBase64Encoded": False, "headers": headers}


def _merge_headers(result: dict[str, Any], extra: Mapping[str, str]) -> None:
    multi = result.get("multiValueHeaders")
    if isinstance(multi, dict):
        for name, value in extra.items():
            multi[name] = [value]
        return
    single = result.get("headers") or {}
    single.update(extra)
    result["headers"] = single


LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def rest_function(
    *routers: Router,
    metrics: Metrics | None = None,
    also_accept: tuple[str, ...] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> tuple[APIGatewayRestResolver, LambdaHandler]:
    """A REST function's resolver over its routers and its `lambda_handler`: logs correlated by API
    Gateway's request id, metrics flushed after each invocation, every answer in the envelope. A function
    whose routes read other media types or larger bodies themselves says so (`also_accept`,
    `max_body_bytes`)."""
    app = build_resolver()
    for router in routers:
        app.include_router(router)

    def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle_api_event(app, event, context, also_accept=also_accept, max_body_bytes=max_body_bytes)

    handler: LambdaHandler = logger.inject_lambda_context(correlation_id_path="requestContext.requestId")(
        metrics.log_metrics(resolve) if metrics is not None else resolve
    )
    return app, handler


def caller(router: Router, *, allow_link: bool = False) -> Principal:
    """Who is calling this route, from the authorizer's context (a payment link only where `allow_link`)."""
    return principal_from_event(router.current_event.raw_event, allow_link=allow_link)


def page_of(name: str, items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """A cursor page as every list route answers it."""
    return {name: items, "next_cursor": next_cursor, "has_more": next_cursor is not None}


def wants_html(accept: str) -> bool:
    """A browser asks for text/html first; an API client for application/json (or anything)."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    if "application/json" in kinds:
        return "text/html" in kinds and kinds.index("text/html") < kinds.index("application/json")
    return "text/html" in kinds


# The hosted pages are self-contained: inline script and style, no frames, no outside origin.
PAGE_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
}


def html_response(status: int, page: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=page,
        headers=dict(PAGE_SECURITY_HEADERS),
    )


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes a sender signed: API Gateway passes the body as text, or base64 for binary types."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed("the request body is not valid base64") from error


PageLimit = Annotated[int, Query(ge=1, le=100)]
"""The `limit` query parameter of a list route (1-100)."""

PageCursor = Annotated[str | None, Query(max_length=1024)]
"""The `cursor` query parameter of a list route: the `next_cursor` of the page before."""


WalletModeHeader = Annotated[
    Literal["ephemeral", "adaptive", "persistent"] | None,
    Header(alias="X-Wallet-Mode", description="wallet mode; the body's mode_override wins"),
]
"""The X-Wallet-Mode header of the wallet-making routes."""


ProviderPreferenceHeader = Annotated[
    Literal["tempo", "circle"] | None,
    Header(
        alias="X-Provider-Preference",
        description="the stablecoin provider to use when it is healthy; otherwise the normal routing applies",
    ),
]
"""The X-Provider-Preference header of the money routes (an unknown value is 400 validation_error)."""

PROVIDER_USED_HEADER = "X-Provider-Used"


def with_provider_used(response: Response[Any]) -> Response[Any]:
    """`X-Provider-Used` on a success whose data names the provider that moved the money (a replayed answer
    too, since it is read from the body)."""
    if not 200 <= response.status_code < 300 or not isinstance(response.body, str):
        return response
    try:
        data = json.loads(response.body).get("data")
    except ValueError:
        return response
    provider = data.get("provider") if isinstance(data, dict) else None
    if isinstance(provider, str) and provider:
        response.headers[PROVIDER_USED_HEADER] = provider
    return response


# A moment in a query (`since`, `created_gte`, ...): ISO-8601 with a time zone, as the answers write them.
# Typed as text with a pattern because pydantic's lax datetime would also take "0.5" as a Unix timestamp.
ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
Moment = Annotated[
    str | None, Query(pattern=ISO_MOMENT, max_length=40, description="ISO-8601 with a time zone")
]


def moment(text: str | None, name: str) -> datetime | None:
    """A `Moment` query value as a datetime; an impossible date (2026-13-45) is 400 like any bad filter."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            f"{name} is not a valid moment", [{"field": name, "message": "not a valid ISO-8601 moment"}]
        ) from None
