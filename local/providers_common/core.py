"""The request pipeline both stand-ins share (faults, auth, idempotency, the ledger) and `/_control/`."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.providers_common.faults import FaultPlan
from local.providers_common.ledger import Ledger, LedgerError

Operation = Callable[[dict[str, Any], Request], tuple[int, Any]]
_FAULT_ERRORS = {
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Bad gateway"),
    503: ("unavailable", "Service temporarily unavailable"),
}


class ApiDialect(Protocol):
    """What differs between the stand-ins: credentials, where the key travels, and the error shape."""

    def authenticate(self, request: Request) -> str: ...

    def idempotency_key(self, request: Request, body: dict[str, Any]) -> str | None: ...

    def fingerprint(self, request: Request, body: dict[str, Any]) -> str: ...

    def reuse_error(self, key: str) -> LedgerError: ...

    def render_error(self, error: LedgerError) -> dict[str, Any]: ...


@dataclass
class Saved:
    fingerprint: str
    status: int
    body: Any


class StandInCore:
    """One fake provider's state: its ledger, fault plan, idempotency records and recent outcomes."""

    def __init__(self, dialect: ApiDialect, seed: int = 0) -> None:
        self.dialect = dialect
        self.ledger = Ledger()
        self.faults = FaultPlan(seed)
        self.saved: dict[tuple[str, str], Saved] = {}
        self.outcomes: deque[bool] = deque(maxlen=200)
        self.reported_status = "ok"

    async def handle(self, request: Request, operation: Operation) -> Response:
        if self.faults.down:
            self.outcomes.append(False)
            return self._error(LedgerError(503, *_FAULT_ERRORS[503]))
        rule = self.faults.take(request.method, request.url.path)
        if rule is not None and rule.mode == "error":
            self.outcomes.append(False)
            return self._error(LedgerError(rule.status, *_FAULT_ERRORS[rule.status]))
        if rule is not None and rule.mode == "timeout":
            self.outcomes.append(False)
            await asyncio.sleep(rule.hang_seconds)
            return self._error(LedgerError(504, "timeout", "Gateway timeout"))
        delay = self.faults.latency_for(request.url.path)
        if delay:
            await asyncio.sleep(delay)
        status, body, replayed = await self._execute(request, operation)
        self.outcomes.append(status < 500)
        if rule is not None and rule.mode == "timeout_after":
            await asyncio.sleep(rule.hang_seconds)
            return self._error(LedgerError(504, "timeout", "Gateway timeout"))
        return _json(body, status, {"Idempotent-Replayed": "true"} if replayed else {})

    async def _execute(self, request: Request, operation: Operation) -> tuple[int, Any, bool]:
        try:
            credential = self.dialect.authenticate(request)
            body = await _json_body(request) if request.method == "POST" else {}
            key = self.dialect.idempotency_key(request, body) if request.method == "POST" else None
            # No await from here to the end: the check, the effect and the record are one atomic step.
            if key is None:
                return (*operation(body, request), False)
            fingerprint = self.dialect.fingerprint(request, body)
            saved = self.saved.get((credential, key))
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    raise self.dialect.reuse_error(key)
                return saved.status, saved.body, True
            try:
                status, result = operation(body, request)
            except LedgerError as exc:
                status, result = exc.status, self.dialect.render_error(exc)
            self.saved[(credential, key)] = Saved(fingerprint, status, result)
            return status, result, False
        except LedgerError as exc:
            return exc.status, self.dialect.render_error(exc), False

    def _error(self, error: LedgerError) -> Response:
        return _json(self.dialect.render_error(error), error.status, {})

    def error_rate(self) -> Decimal:
        if not self.outcomes:
            return Decimal(0)
        failures = sum(1 for ok in self.outcomes if not ok)
        return (Decimal(failures) / Decimal(len(self.outcomes))).quantize(Decimal("0.0001"))

    def tps(self) -> Decimal:
        return self.ledger.recent_tps(time.time())

    def control_routes(self) -> list[Route]:
        return [
            Route("/_control/health", self._control_health, methods=["GET"]),
            Route("/_control/state", self._control_state, methods=["GET"]),
            Route("/_control/reset", self._control_reset, methods=["POST"]),
            Route("/_control/fail", self._control_fail, methods=["POST"]),
            Route("/_control/clear_faults", self._control_clear_faults, methods=["POST"]),
            Route("/_control/latency", self._control_latency, methods=["POST"]),
            Route("/_control/down", self._control_down, methods=["POST"]),
            Route("/_control/up", self._control_up, methods=["POST"]),
            Route("/_control/status", self._control_status, methods=["POST"]),
        ]

    async def _control_health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _control_state(self, request: Request) -> Response:
        return _json(
            {
                **self.ledger.view(),
                "faults": self.faults.view(),
                "idempotency_keys": len(self.saved),
                "reported_status": self.reported_status,
            },
            200,
            {},
        )

    async def _control_reset(self, request: Request) -> Response:
        spec = await _control_spec(request)
        self.ledger.reset()
        self.saved.clear()
        self.outcomes.clear()
        self.reported_status = "ok"
        self.faults.reset(int(spec["seed"]) if "seed" in spec else None)
        return JSONResponse({"reset": True, "faults": self.faults.view()})

    async def _control_fail(self, request: Request) -> Response:
        try:
            return JSONResponse(self.faults.add(await _control_spec(request)))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def _control_clear_faults(self, request: Request) -> Response:
        """Stop injecting failures (rules, latency, down) and keep the chain: balances, supply, keys."""
        self.faults.clear()
        return JSONResponse(self.faults.view())

    async def _control_latency(self, request: Request) -> Response:
        spec = await _control_spec(request)
        try:
            self.faults.set_latency(float(spec.get("seconds", 0)), str(spec.get("path", "/")))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.view())

    async def _control_down(self, request: Request) -> Response:
        self.faults.down = True
        return JSONResponse(self.faults.view())

    async def _control_up(self, request: Request) -> Response:
        self.faults.down = False
        return JSONResponse(self.faults.view())

    async def _control_status(self, request: Request) -> Response:
        status = (await _control_spec(request)).get("status")
        if status not in ("ok", "degraded"):
            return JSONResponse({"error": "status must be ok or degraded"}, status_code=400)
        self.reported_status = status
        return JSONResponse({"reported_status": status})


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LedgerError(400, "invalid_request", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise LedgerError(400, "invalid_request", "the body must be a JSON object")
    return body


async def _control_spec(request: Request) -> dict[str, Any]:
    """A control request's JSON object; an empty or unreadable body means "no options"."""
    try:
        return await _json_body(request)
    except LedgerError:
        return {}
