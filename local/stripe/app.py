"""The stand-in's HTTP surface: Stripe's /v1 routes (auth, forms, idempotency, faults) and /_control/."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import html
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.stripe import connect, events, forms, identity, issuing, payments, refunds
from local.stripe.errors import StripeError, invalid_request
from local.stripe.faults import Faults
from local.stripe.state import API_VERSION, IdempotencyRecord, RequestContext, Store, new_id
from local.stripe.webhooks import LOCAL_WEBHOOK_SECRET, WebhookDispatcher

log = logging.getLogger("local.stripe")

Handler = Callable[..., dict[str, Any]]
_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
_ID = r"(?P<{}>[A-Za-z0-9_]+)"


def _route(method: str, pattern: str, handler: Handler) -> tuple[str, re.Pattern[str], Handler]:
    regex = re.sub(r"\{(\w+)\}", lambda m: _ID.format(m.group(1)), pattern)
    return method, re.compile(f"^{regex}$"), handler


ROUTES = [
    _route("POST", "/v1/issuing/cardholders", issuing.create_cardholder),
    _route("GET", "/v1/issuing/cardholders", issuing.list_cardholders),
    _route("GET", "/v1/issuing/cardholders/{cardholder_id}", issuing.get_cardholder),
    _route("POST", "/v1/issuing/cards", issuing.create_card),
    _route("GET", "/v1/issuing/cards", issuing.list_cards),
    _route("GET", "/v1/issuing/cards/{card_id}", issuing.get_card),
    _route("POST", "/v1/issuing/cards/{card_id}", issuing.update_card),
    _route("POST", "/v1/test_helpers/issuing/authorizations", issuing.create_test_authorization),
    _route("GET", "/v1/issuing/authorizations", issuing.list_authorizations),
    _route("GET", "/v1/issuing/authorizations/{authorization_id}", issuing.get_authorization),
    _route("POST", "/v1/payment_intents", payments.create_intent),
    _route("GET", "/v1/payment_intents/{intent_id}", payments.get_intent),
    _route("POST", "/v1/payment_intents/{intent_id}/confirm", payments.confirm_intent),
    _route("POST", "/v1/payment_intents/{intent_id}/cancel", payments.cancel_intent),
    _route("GET", "/v1/charges/{charge_id}", payments.get_charge),
    _route("POST", "/v1/refunds", refunds.create_refund),
    _route("GET", "/v1/refunds", refunds.list_refunds),
    _route("GET", "/v1/refunds/{refund_id}", refunds.get_refund),
    _route("POST", "/v1/identity/verification_sessions", identity.create_session),
    _route("GET", "/v1/identity/verification_sessions/{session_id}", identity.get_session),
    _route("POST", "/v1/identity/verification_sessions/{session_id}/cancel", identity.cancel_session),
    _route("POST", "/v1/accounts", connect.create_account),
    _route("GET", "/v1/accounts/{account_id}", connect.get_account),
    _route("POST", "/v1/transfers", connect.create_transfer),
    _route("POST", "/v1/transfers/{transfer_id}/reversals", connect.create_reversal),
    _route("POST", "/v1/payouts", connect.create_payout),
    _route("GET", "/v1/payouts/{payout_id}", connect.get_payout),
    _route("GET", "/v1/events", events.list_events),
    _route("GET", "/v1/events/{event_id}", events.get_event),
]


@dataclass
class Options:
    webhook_url: str | None = None
    webhook_secret: str = LOCAL_WEBHOOK_SECRET
    state_file: Path | None = None
    ach_delay_seconds: float | None = None
    webhook_attempts: int = 5
    webhook_backoff_seconds: float = 1.0


class StripeStandIn:
    """One fake Stripe account: its store, its fault plan and its webhook endpoint."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.store = Store(state_file=self.options.state_file)
        self.store.load()
        self.faults = Faults()
        self.webhooks = WebhookDispatcher(
            self.options.webhook_url,
            self.options.webhook_secret,
            max_attempts=self.options.webhook_attempts,
            backoff_seconds=self.options.webhook_backoff_seconds,
        )
        self.store.listeners.append(self.webhooks.enqueue)
        self._timers: list[threading.Timer] = []
        self.app = Starlette(
            routes=[
                Route("/v1/{path:path}", self._api, methods=["GET", "POST", "DELETE"]),
                Route("/_control/health", self._health, methods=["GET"]),
                Route("/_control/state", self._state, methods=["GET"]),
                Route("/_control/reset", self._reset, methods=["POST"]),
                Route("/_control/fail", self._fail, methods=["POST"]),
                Route("/_control/latency", self._latency, methods=["POST"]),
                Route("/_control/down", self._down, methods=["POST"]),
                Route("/_control/webhook", self._webhook_config, methods=["POST"]),
                Route("/_control/webhooks", self._webhook_list, methods=["GET"]),
                Route("/_control/webhooks/{event_id}/resend", self._webhook_resend, methods=["POST"]),
                Route("/_control/payment_intents/{intent_id}/complete", self._complete, methods=["POST"]),
                Route(
                    "/_control/identity/verification_sessions/{session_id}/{outcome}",
                    self._identity_outcome,
                    methods=["POST"],
                ),
                Route("/_control/payouts/{payout_id}/{outcome}", self._payout_outcome, methods=["POST"]),
                Route("/_identity/{session_id}", self._identity_page, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        self.close()

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.webhooks.close()

    async def _api(self, request: Request) -> Response:
        request_id = new_id("req_", 14)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("stripe-version", API_VERSION),
        }
        idempotency_key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            failure = self.faults.take_failure(request.method, request.url.path)
            if failure is not None:
                raise failure
            api_key = _authenticate(request.headers.get("authorization", ""))
            handler, path_params = _resolve(request.method, request.url.path)
            raw = (
                (await request.body()).decode("utf-8", "replace")
                if request.method == "POST"
                else request.url.query
            )
            params = forms.decode(raw)
            ctx = RequestContext(
                api_key,
                request_id,
                idempotency_key,
                str(request.base_url).rstrip("/"),
                request.headers.get("stripe-account") or None,
            )
            if idempotency_key:
                replay = self._begin_idempotent(ctx, request.method, request.url.path, params)
                if replay is not None:
                    return replay
            return await self._execute(handler, ctx, params, path_params, request, headers)
        except StripeError as exc:
            return _error_response(exc, headers)

    async def _execute(
        self,
        handler: Handler,
        ctx: RequestContext,
        params: dict[str, Any],
        path_params: dict[str, str],
        request: Request,
        headers: dict[str, str],
    ) -> Response:
        path = request.url.path
        try:
            delay = self.faults.latency_for(path)
            if delay:
                await asyncio.sleep(delay)
            with self.store.lock:
                expand = [e for e in (params.get("expand") or []) if isinstance(e, str)]
                obj = handler(self.store, ctx, params, **path_params)
                body = obj if obj.get("object") == "list" else self.store.render(obj, expand)
                if request.method == "POST":
                    self.store.save()
        except StripeError as exc:
            self._finish_idempotent(ctx, exc.status, exc.body(), keep=exc.saved)
            raise
        except Exception:
            log.exception("stand-in failure on %s", path)
            self._finish_idempotent(ctx, 500, {}, keep=False)
            raise
        self._finish_idempotent(ctx, 200, body, keep=True)
        self._schedule_settlement(body)
        return _json(body, 200, headers)

    def _begin_idempotent(
        self, ctx: RequestContext, method: str, path: str, params: dict[str, Any]
    ) -> Response | None:
        key = ctx.idempotency_key or ""
        if len(key) > 255:
            raise invalid_request(
                "Idempotency keys can be at most 255 characters long.", param="Idempotency-Key"
            )
        fingerprint = json.dumps({"params": params}, sort_keys=True)
        with self.store.lock:
            self.store.prune_idempotency()
            record = self.store.idempotency.get((ctx.api_key, key))
            if record is None:
                self.store.idempotency[(ctx.api_key, key)] = IdempotencyRecord(
                    method=method, path=path, fingerprint=fingerprint, created=self.store.clock()
                )
                return None
            if record.in_flight:
                raise StripeError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotency Key (that "
                    "probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    code="idempotency_key_in_use",
                    saved=False,
                    should_retry=True,
                )
            if (record.method, record.path, record.fingerprint) != (method, path, fingerprint):
                raise StripeError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    saved=False,
                )
            replay_headers = {
                "Request-Id": ctx.request_id,
                "Stripe-Version": API_VERSION,
                "Idempotency-Key": key,
                "Idempotent-Replayed": "true",
                "Original-Request": record.request_id,
            }
            assert record.status is not None and record.body is not None
            return _json(record.body, record.status, replay_headers)

    def _finish_idempotent(
        self, ctx: RequestContext, status: int, body: dict[str, Any], *, keep: bool
    ) -> None:
        if not ctx.idempotency_key:
            return
        slot = (ctx.api_key, ctx.idempotency_key)
        with self.store.lock:
            record = self.store.idempotency.get(slot)
            if record is None:
                return
            if keep:
                record.status, record.body, record.request_id, record.in_flight = (
                    status,
                    body,
                    ctx.request_id,
                    False,
                )
            else:
                del self.store.idempotency[slot]
            self.store.save()

    def _schedule_settlement(self, body: dict[str, Any]) -> None:
        delay = self.options.ach_delay_seconds
        if delay is None or body.get("object") != "payment_intent" or body.get("status") != "processing":
            return
        timer = threading.Timer(delay, self._settle_quietly, args=(body["id"],))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _settle_quietly(self, intent_id: str) -> None:
        try:
            payments.complete_processing(self.store, intent_id)
        except StripeError as exc:
            log.info("automatic settlement of %s skipped: %s", intent_id, exc.message)

    async def _health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def _state(self, request: Request) -> Response:
        with self.store.lock:
            counts: dict[str, int] = {}
            for obj in self.store.objects.values():
                counts[obj["object"]] = counts.get(obj["object"], 0) + 1
            in_flight = sum(1 for record in self.store.idempotency.values() if record.in_flight)
        return JSONResponse(
            {
                "faults": self.faults.view(),
                "webhook_url": self.webhooks.url,
                "objects": counts,
                "idempotency_in_flight": in_flight,
            }
        )

    async def _reset(self, request: Request) -> Response:
        self.store.reset()
        self.faults.reset()
        self.webhooks.reset()
        return JSONResponse({"reset": True})

    async def _fail(self, request: Request) -> Response:
        spec = await _json_body(request)
        try:
            return JSONResponse(self.faults.fail_next(spec))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def _latency(self, request: Request) -> Response:
        spec = await _json_body(request)
        try:
            self.faults.set_latency(float(spec.get("seconds", 0)), str(spec.get("path", "/v1")))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.view())

    async def _down(self, request: Request) -> Response:
        spec = await _json_body(request)
        self.faults.down = bool(spec.get("down", True))
        return JSONResponse(self.faults.view())

    async def _webhook_config(self, request: Request) -> Response:
        spec = await _json_body(request)
        self.webhooks.configure(spec.get("url"), spec.get("secret"))
        return JSONResponse({"url": self.webhooks.url})

    async def _webhook_list(self, request: Request) -> Response:
        return JSONResponse({"deliveries": self.webhooks.deliveries()})

    async def _webhook_resend(self, request: Request) -> Response:
        event_id = request.path_params["event_id"]
        if not self.webhooks.resend(event_id):
            return JSONResponse({"error": f"no delivery of {event_id} to resend"}, status_code=404)
        return JSONResponse({"resent": event_id})

    async def _complete(self, request: Request) -> Response:
        spec = await _json_body(request)
        try:
            intent = payments.complete_processing(
                self.store, request.path_params["intent_id"], spec.get("outcome")
            )
        except StripeError as exc:
            return _error_response(exc, {})
        return JSONResponse(intent)

    async def _identity_outcome(self, request: Request) -> Response:
        """`verify` or `fail` (body `{code?, reason?}`) a VerificationSession: its signed event follows."""
        spec = await _json_body(request)
        outcomes = {"verify": "verified", "fail": "requires_input"}
        outcome = outcomes.get(request.path_params["outcome"])
        if outcome is None:
            return JSONResponse({"error": "outcome must be verify or fail"}, status_code=404)
        try:
            session = identity.complete(
                self.store, request.path_params["session_id"], outcome, spec.get("code"), spec.get("reason")
            )
        except StripeError as exc:
            return _error_response(exc, {})
        return JSONResponse(session)

    async def _payout_outcome(self, request: Request) -> Response:
        """`pay` or `fail` (body `{code?}`, a Stripe payout failure code) a payout, as the bank would: its
        signed `payout.paid` / `payout.failed` follows."""
        spec = await _json_body(request)
        outcome = {"pay": "paid", "fail": "failed"}.get(request.path_params["outcome"])
        if outcome is None:
            return JSONResponse({"error": "outcome must be pay or fail"}, status_code=404)
        try:
            payout = connect.settle_payout(
                self.store, request.path_params["payout_id"], outcome, spec.get("code")
            )
        except StripeError as exc:
            return _error_response(exc, {})
        return JSONResponse(payout)

    async def _identity_page(self, request: Request) -> Response:
        """The hosted verification page, locally: what is asked, and the two controls a tester can press."""
        session = self.store.get(request.path_params["session_id"], identity.OBJECT)
        if session is None:
            return Response("no such verification session", status_code=404, media_type="text/plain")
        control = f"/_control/identity/verification_sessions/{html.escape(session['id'])}"
        body = (
            f"<!doctype html><title>Verify your identity</title><h1>Verify your identity</h1>"
            f"<p>Session {html.escape(session['id'])}: {html.escape(session['status'])}</p>"
            f"<p>Checks: {html.escape(json.dumps(session['options']))}</p>"
            f'<form method="post" action="{control}/verify"><button>Verify</button></form>'
            f'<form method="post" action="{control}/fail"><button>Fail</button></form>'
        )
        return Response(body, media_type="text/html")


def _authenticate(header: str) -> str:
    scheme, _, credential = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credential.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential.strip()).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            saved=False,
        )
    if not _KEY.match(key):
        masked = f"{key[:8]}****{key[-4:]}" if len(key) > 12 else "****"
        raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {masked}", saved=False)
    return key


def _resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    for route_method, regex, handler in ROUTES:
        match = regex.match(path)
        if match and route_method == method:
            return handler, match.groupdict()
    raise StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/.",
        saved=False,
    )


def _json(body: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    return Response(
        json.dumps(body, indent=2), status_code=status, headers=headers, media_type="application/json"
    )


def _error_response(exc: StripeError, headers: dict[str, str]) -> Response:
    extra = dict(headers)
    if exc.should_retry is not None:
        extra["Stripe-Should-Retry"] = "true" if exc.should_retry else "false"
    return _json(exc.body(), exc.status, extra)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}
