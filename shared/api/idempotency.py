"""Idempotent POSTs: Powertools idempotency scoped to the caller, replaying the first status and body."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from pydantic import BaseModel

from shared.api import ok
from shared.auth import Principal
from shared.errors import (
    DependencyUnavailable,
    IdempotencyInProgress,
    IdempotencyKeyReuse,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.router import APIGatewayRouter
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RECORD_LIFETIME_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255

Outcome = tuple[int, Any]
"""What an idempotent operation returns: the HTTP status and the envelope's `data`."""

IdempotencyKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, description="1-255 characters")]
"""The optional Idempotency-Key header of every POST that creates or moves something."""


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


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


class IdempotentRequests:
    """Runs a POST's operation at most once per (caller, Idempotency-Key) for 24 hours.

    The record holds the hash of `request` (method, path, validated body), so the same key with another
    request is refused instead of replayed. Call `run` only after the body validated: a bad request must
    leave no record behind.
    """

    def __init__(
        self, persistence_store: BasePersistenceLayer, *, lifetime_seconds: int = RECORD_LIFETIME_SECONDS
    ):
        self.config = IdempotencyConfig(
            event_key_jmespath="scope",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=lifetime_seconds,
            response_hook=_mark_replayed,
        )
        self._once = idempotent_function(
            _perform, data_keyword_argument="payload", persistence_store=persistence_store, config=self.config
        )

    def register_lambda_context(self, context: Any) -> None:
        """Lets an in-progress record expire with the invocation, so a crashed attempt can be retried."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)

    def run(
        self,
        principal: Principal,
        key: str | None,
        request: dict[str, Any],
        operation: Callable[[], Outcome],
    ) -> Response[str]:
        key = check_key(key)
        if key is None:
            status, data = operation()
            return ok(data, status)
        payload = {"scope": [principal.tenant_id, principal.sub, key], "request": request}
        try:
            stored: dict[str, Any] = self._once(payload=payload, operation=operation)
        except IdempotencyValidationError as exc:
            raise IdempotencyKeyReuse("this Idempotency-Key was used with a different request") from exc
        except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError) as exc:
            raise IdempotencyInProgress("a request with this Idempotency-Key is still running") from exc
        except IdempotencyPersistenceLayerError as exc:
            raise DependencyUnavailable("idempotency records are unavailable; retry") from exc
        headers = {REPLAYED_HEADER: "true"} if stored.get("replayed") else {}
        return ok(stored["data"], stored["status"], headers=headers)


def _perform(*, payload: dict[str, Any], operation: Callable[[], Outcome]) -> dict[str, Any]:
    status, data = operation()
    return {"status": status, "data": data}


def idempotent(
    router: APIGatewayRouter,
    principal: Principal,
    key: str | None,
    body: BaseModel | dict[str, Any] | None,
    operation: Callable[[], Outcome],
) -> Response[str]:
    """Run a route's operation once per (caller, Idempotency-Key): the request's own method and path and its
    validated body are what a replay must match, so no route retypes its path."""
    from shared.bootstrap import app  # the process's idempotency store, built on the first keyed request

    event = router.current_event
    request = {
        "method": event.http_method,
        "path": event.path,
        "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
    }
    requests = app().adapters.idempotency
    requests.register_lambda_context(router.lambda_context)
    return requests.run(principal, key, request, operation)
