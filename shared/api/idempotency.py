"""Idempotent routes: the Idempotency-Key header every creating or money-moving POST takes, and the one
helper that runs a route's operation through the process's idempotency records."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from shared.api import as_data, ok
from shared.auth import Principal
from shared.errors import ValidationFailed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.router import APIGatewayRouter

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

Outcome = tuple[int, Any]
"""What an idempotent operation returns: the HTTP status and the envelope's `data` (a typed output model,
or plain data)."""

IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description="1-255 characters")]
"""The optional Idempotency-Key header of every POST that creates or moves something."""


def check_key(key: str | None) -> str | None:
    """The Idempotency-Key header, refused (400) unless 1-255 printable ASCII characters."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        detail = {
            "field": IDEMPOTENCY_HEADER,
            "message": "must be 1-255 printable ASCII characters",
            "type": "value_error",
        }
        raise ValidationFailed("Idempotency-Key is invalid", [detail])
    return key


def idempotent(
    router: APIGatewayRouter,
    principal: Principal,
    key: str | None,
    body: BaseModel | dict[str, Any] | None,
    operation: Callable[[], Outcome],
    reveal: Callable[[Any], Any] | None = None,
) -> Response[Any]:
    """Run a route's operation once per (caller, Idempotency-Key): the request's own method and path and its
    validated body are what a replay must match, so no route retypes its path. Without a key the operation
    just runs, and the idempotency records are never built.

    `reveal`, when given, turns what the operation returned (and what the record stores) into the answer: a
    route whose answer holds a secret stores it sealed and opens it here, so no record keeps it in clear.
    """
    from shared.bootstrap import app  # the idempotency records, built on the first keyed request

    key = check_key(key)
    if key is None:
        status, data = operation()
        return ok(reveal(as_data(data)) if reveal is not None else data, status)

    def plain() -> Outcome:
        # The idempotency records store JSON: a typed answer is stored as the data it dumps to.
        status, data = operation()
        return status, as_data(data)

    event = router.current_event
    request = {
        "method": event.http_method,
        "path": event.path,
        "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
    }
    requests = app().adapters.idempotency
    requests.register_lambda_context(router.lambda_context)
    return requests.run(principal, key, request, plain, reveal)
