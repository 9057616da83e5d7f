"""The runtime's whole lifecycle: template, moto, functions, event sources, the HTTP/WebSocket server."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from local.runtime.clock import VirtualClock
from local.runtime.config import RuntimeConfig, ensure_template, fill
from local.runtime.context import RuntimeContext
from local.runtime.functions import FunctionPool
from local.runtime.resources import FAKE_ENV, Moto, ResourceBuilder
from local.runtime.rest import RestApi
from local.runtime.services import Sidecars
from local.runtime.template import REGION, Template
from local.runtime.websocket import WebSocketApi

TOKEN_LIFETIME = 10 * 365 * 24 * 3600
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass
class Options:
    template: Path
    config: Path
    port: int
    speed: float
    jwt_secret: str
    state_file: Path | None = None


class _Shutdown(Exception):
    """SIGTERM/SIGINT arrived before the server was up."""


def demo_tokens(config: RuntimeConfig, secret: str, now: float) -> dict[str, str]:
    """HS256 tokens with the config's claims, valid for years from `now`.

    `now` is the wall clock, not the virtual one: JWT libraries check `iat`/`exp` against the wall clock,
    and a token issued in the virtual future would be refused as not yet valid when WALLETS_SPEED > 1.
    """
    tokens = {}
    with warnings.catch_warnings():
        # The local secret is short on purpose (documented default); PyJWT warns about HMAC key length.
        warnings.simplefilter("ignore")
        for name, claims in config.tokens.items():
            payload = {**claims, "iat": int(now), "exp": int(now) + TOKEN_LIFETIME}
            tokens[name] = jwt.encode(payload, secret, algorithm="HS256")
    return tokens


def _bind(port: int) -> socket.socket:
    """Bound now (to fail fast and learn an ephemeral port); uvicorn listens only when all is ready.

    The protocol must be IPPROTO_TCP, not 0: asyncio turns Nagle off on accepted sockets only when their
    `proto` says TCP, and accepted sockets copy the listener's. With Nagle on, a response written as headers
    then body waits for the client's delayed ACK, 40 ms per request on a keep-alive connection. TCP_NODELAY
    on the listener too, which Linux hands down to accepted sockets whatever asyncio does.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class AnyPathConvertor(Convertor[str]):
    """Starlette's `path` without its one gap: `.` skips a newline, and API Gateway routes a path holding
    an encoded one (`%0A`) to the method like any other, so the runtime must not answer its own 404."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", AnyPathConvertor())


def build_app(rest: RestApi | None, ws: WebSocketApi | None) -> Starlette:
    routes: list[Any] = []
    if ws is not None:

        async def ws_endpoint(websocket: WebSocket) -> None:
            await ws.serve(websocket)

        routes += [
            WebSocketRoute("/ws", ws_endpoint),
            WebSocketRoute("/ws/", ws_endpoint),
            Route("/{stage}/@connections/{connection_id}", ws.management, methods=["GET", "POST", "DELETE"]),
        ]

    async def rest_endpoint(request: Request) -> Response:
        if rest is None:
            return Response('{"message":"Missing Authentication Token"}', 403, media_type="application/json")
        return await rest(request)

    routes.append(Route("/{path:anypath}", rest_endpoint, methods=HTTP_METHODS))
    return Starlette(routes=routes)


class LocalRuntime:
    def __init__(self, options: Options, log: logging.Logger) -> None:
        self.options = options
        self.log = log
        self.moto: Moto | None = None
        self.functions: FunctionPool | None = None
        self.event_sources: Any = None
        self.server: uvicorn.Server | None = None
        self.sidecars: Sidecars | None = None
        self._starting = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._starting:
            raise _Shutdown(signal.Signals(signum).name)
        # While uvicorn runs it owns the signals; afterwards (its re-raise) there is nothing left to do.

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        started = time.monotonic()
        try:
            sock = self._start()
        except _Shutdown:
            self.log.info("stopped during start-up")
            self._stop()
            return 0
        except BaseException:
            self._stop()
            raise
        assert self.server is not None
        threading.Thread(target=self._announce, args=(started,), daemon=True).start()
        try:
            self._starting = False
            self.server.run(sockets=[sock])
        finally:
            self._stop()
        return 0

    def _start(self) -> socket.socket:
        options = self.options
        config = RuntimeConfig.load(options.config)
        self.config = config
        ensure_template(options.template, config, self.log)
        template = Template.load(options.template)
        sock = _bind(options.port)
        self.port = int(sock.getsockname()[1])
        clock = VirtualClock(options.speed)
        self.clock = clock
        self.moto = Moto()
        self.moto.start()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.placeholders = {
            "port": str(self.port),
            "host": "127.0.0.1",
            "jwt_secret": options.jwt_secret,
            "moto_url": self.moto.url,
            "rest_url": self.base_url,
            "ws_url": f"ws://127.0.0.1:{self.port}/ws",
        }
        self.sidecars = Sidecars(config.root, self.log)
        self.sidecars.start(config.services, self.placeholders)
        ResourceBuilder(template, self.moto.client, config, self.placeholders, self.log).create_all()
        base_env = {
            **FAKE_ENV,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_XRAY_SDK_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
            **clock.env(),
        }
        extra_env = {k: fill(v, self.placeholders) for k, v in config.env.items()}
        self.functions = FunctionPool(
            template,
            base_env=base_env,
            extra_env=extra_env,
            local_base_url=self.base_url,
            max_workers=config.max_workers,
            log=self.log,
        )
        ctx = RuntimeContext(
            template=template,
            functions=self.functions,
            clock=clock,
            aws=self.moto.client,
            moto_url=self.moto.url,
            log=self.log,
            ttl_candidates=self.moto.ttl_candidates,
            wakeups=self.moto.wakeups,
        )
        self.ctx = ctx
        rest_ids = list(template.of_type("AWS::ApiGateway::RestApi"))
        ws_ids = [
            lid
            for lid, r in template.of_type("AWS::ApiGatewayV2::Api").items()
            if r["Properties"].get("ProtocolType") == "WEBSOCKET"
        ]
        if len(rest_ids) > 1 or len(ws_ids) > 1:
            self.log.warning(
                "serving only the first REST (%s) and WebSocket (%s) API", rest_ids[:1], ws_ids[:1]
            )
        rest = RestApi(ctx, rest_ids[0]) if rest_ids else None
        ws = WebSocketApi(ctx, ws_ids[0]) if ws_ids else None
        self.rest, self.ws = rest, ws
        self._start_event_sources(ctx)
        app = build_app(rest, ws)
        uv_config = uvicorn.Config(
            app, log_level="warning", lifespan="off", ws="websockets-sansio", timeout_graceful_shutdown=3
        )
        self.server = uvicorn.Server(uv_config)
        return sock

    def _start_event_sources(self, ctx: RuntimeContext) -> None:
        try:
            from local.runtime.events import EventSources
        except ImportError:
            self.log.warning("local.runtime.events is absent: no streams, rules, schedules or TTL sweeps")
            return
        self.event_sources = EventSources(ctx)
        self.event_sources.start()

    def _announce(self, started: float) -> None:
        assert self.server is not None
        while not self.server.started:
            if self.server.should_exit:
                return
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        tokens = demo_tokens(self.config, self.options.jwt_secret, time.time())
        state = {
            "rest_url": self.base_url,
            "ws_url": f"ws://127.0.0.1:{self.port}/ws",
            "ws_management_url": f"{self.base_url}/{self.ws.stage}" if self.ws else None,
            "moto_url": self.moto.url if self.moto else None,
            "services": self.sidecars.urls() if self.sidecars else {},
            "jwt_secret": self.options.jwt_secret,
            "tokens": tokens,
            "speed": self.options.speed,
            "clock_origin": self.clock.origin,
            "pid": os.getpid(),
            "ready_seconds": round(elapsed, 3),
        }
        lines = [
            f"Monay local runtime ready in {elapsed:.1f}s",
            f"  REST       {state['rest_url']}",
            f"  WebSocket  {state['ws_url']}",
            f"  moto       {state['moto_url']}",
            *[f"  {name:<10} {url}" for name, url in state["services"].items()],
            f"  JWT secret {self.options.jwt_secret}",
            *[f"  token {name}: {token}" for name, token in tokens.items()],
        ]
        print("\n".join(lines), flush=True)
        if self.options.state_file:
            tmp = self.options.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(self.options.state_file)
        if self.functions is not None:
            threading.Thread(target=self.functions.warm, daemon=True, name="warm").start()

    def _stop(self) -> None:
        if self.event_sources is not None:
            try:
                self.event_sources.stop()
            except Exception:
                self.log.exception("stopping event sources failed")
        if self.functions is not None:
            self.functions.stop()
        if self.sidecars is not None:
            self.sidecars.stop()
        if self.moto is not None:
            self.moto.stop()
        if self.options.state_file and self.options.state_file.exists():
            self.options.state_file.unlink()
        self.log.info("stopped")
