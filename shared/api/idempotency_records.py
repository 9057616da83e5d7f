"""Idempotency records: Powertools idempotency scoped to the caller, replaying the first status and body.

Apart from the route helper (shared/api/idempotency.py) so that a function loads Powertools' idempotency
utility, and the DynamoDB persistence layer behind it, only when a request first needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from shared.api import ok
from shared.api.idempotency import Outcome
from shared.auth import Principal
from shared.errors import DependencyUnavailable, IdempotencyInProgress, IdempotencyKeyReuse

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

REPLAYED_HEADER = "Idempotent-Replayed"
RECORD_LIFETIME_SECONDS = 24 * 60 * 60


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


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
        key: str,
        request: dict[str, Any],
        operation: Callable[[], Outcome],
        reveal: Callable[[Any], Any] | None = None,
    ) -> Response[str]:
        """`key` as `check_key` accepted it (shared/api/idempotency.py's `idempotent` calls this); `reveal`
        turns the stored data into the answer's (first run and replays alike)."""
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
        data = reveal(stored["data"]) if reveal is not None else stored["data"]
        return ok(data, stored["status"], headers=headers)


def _perform(*, payload: dict[str, Any], operation: Callable[[], Outcome]) -> dict[str, Any]:
    status, data = operation()
    return {"status": status, "data": data}
