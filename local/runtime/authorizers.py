"""Lambda authorizers as API Gateway runs them: identity checks, invocation, policy evaluation, caching."""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.runtime.context import FunctionError, Functions


class AuthorizerDenied(Exception):
    """The request is refused before the integration: API Gateway's gateway response `response_type`."""

    def __init__(self, response_type: str, status: int, message: str | None) -> None:
        super().__init__(message or response_type)
        self.response_type = response_type
        self.status = status
        self.message = message


UNAUTHORIZED = ("UNAUTHORIZED", 401, "Unauthorized")
EXPLICIT_DENY = ("ACCESS_DENIED", 403, "User is not authorized to access this resource with an explicit deny")
NOT_ALLOWED = ("ACCESS_DENIED", 403, "User is not authorized to access this resource")
FAILURE = ("AUTHORIZER_FAILURE", 500, None)
CONFIG_ERROR = ("AUTHORIZER_CONFIGURATION_ERROR", 500, None)


@dataclass(frozen=True)
class AuthorizerSpec:
    function_id: str
    kind: str  # TOKEN or REQUEST
    identity_sources: tuple[str, ...]
    ttl_seconds: int
    validation_expression: str | None = None


def function_from_uri(uri: str, logical_id_for: Callable[[str], str | None]) -> str | None:
    """Logical id of the Lambda an integration URI (`.../functions/<arn>/invocations`) calls."""
    match = re.search(r"functions/(arn:[^/]+)/invocations", uri)
    return logical_id_for(match.group(1)) if match else None


def policy_allows(policy: dict[str, Any], method_arn: str) -> tuple[bool, bool]:
    """(allowed, explicitly denied) for `method_arn`: an explicit Deny wins over any Allow, as in IAM."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = denied = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            denied = True
        elif statement.get("Effect") == "Allow":
            allowed = True
    return allowed and not denied, denied


class AuthorizerCache:
    """Results cached per identity for AuthorizerResultTtlInSeconds; `now` is the runtime's virtual clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[str, ...]]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._now():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[str, tuple[str, ...]], result: dict[str, Any], ttl: int) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._now() + ttl, result)


def authorize(
    spec: AuthorizerSpec,
    identities: tuple[str, ...],
    event: dict[str, Any],
    method_arn: str,
    functions: Functions,
    cache: AuthorizerCache,
    cache_id: str,
) -> dict[str, Any]:
    """Run (or reuse) the authorizer; returns requestContext.authorizer or raises AuthorizerDenied."""
    key = (cache_id, identities)
    result = cache.get(key)
    if result is None:
        try:
            result = functions.invoke(spec.function_id, event)
        except FunctionError as exc:
            if exc.payload.get("errorMessage") == "Unauthorized":
                raise AuthorizerDenied(*UNAUTHORIZED) from exc
            raise AuthorizerDenied(*FAILURE) from exc
        if not isinstance(result, dict) or "policyDocument" not in result or "principalId" not in result:
            raise AuthorizerDenied(*CONFIG_ERROR)
        cache.put(key, result, spec.ttl_seconds)
    allowed, denied = policy_allows(result["policyDocument"], method_arn)
    if denied:
        raise AuthorizerDenied(*EXPLICIT_DENY)
    if not allowed:
        raise AuthorizerDenied(*NOT_ALLOWED)
    context = {k: v for k, v in (result.get("context") or {}).items() if v is not None}
    return {**context, "principalId": result["principalId"], "integrationLatency": 0}
