"""The WebSocket API (API Gateway v2) from the template, and its `@connections` management endpoint."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from local.runtime.authorizers import (
    AuthorizerCache,
    AuthorizerDenied,
    AuthorizerSpec,
    authorize,
    function_from_uri,
)
from local.runtime.context import FunctionError, RuntimeContext
from local.runtime.rest import request_time
from local.runtime.template import ACCOUNT_ID, REGION

# API Gateway's WebSocket quotas, which it applies whatever the client does: a connection without a message in
# either direction for 10 minutes is closed, and every connection is closed 2 hours after it opened. Both run
# on the virtual clock, so WALLETS_SPEED brings them within a test's reach.
IDLE_TIMEOUT = 10 * 60.0
MAX_CONNECTION_DURATION = 2 * 60 * 60.0
# API Gateway closes both ways with 1001 (RFC 6455 "going away") and tells $disconnect so.
GOING_AWAY = 1001
GOING_AWAY_REASON = "Going away"


@dataclass
class Route:
    key: str
    function_id: str | None
    authorizer_id: str | None
    two_way: bool


@dataclass
class Connection:
    id: str
    socket: WebSocket
    connected_at: int
    source_ip: str
    user_agent: str | None
    authorizer: dict[str, Any] | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Virtual epoch seconds of the last message in either direction.
    last_active: float = 0.0
    # Set when the gateway itself closes the connection (lifetime limits): the code and reason of its close.
    closed_by_gateway: tuple[int, str] | None = None

    def deadline(self) -> tuple[float, str]:
        """When the gateway closes it if nothing else happens, and which limit that is."""
        idle = self.last_active + IDLE_TIMEOUT
        lifetime = self.connected_at / 1000 + MAX_CONNECTION_DURATION
        return (idle, "idle timeout") if idle < lifetime else (lifetime, "2-hour limit")


class WebSocketApi:
    """One AWS::ApiGatewayV2::Api of ProtocolType WEBSOCKET, served at /ws."""

    def __init__(self, ctx: RuntimeContext, api_lid: str) -> None:
        self.ctx = ctx
        template = ctx.template
        self.api_id = template.physical_id(api_lid)
        api_props = template.resources[api_lid]["Properties"]
        self.selection = str(api_props.get("RouteSelectionExpression", "$request.body.action"))
        self.stage = "production"
        integrations: dict[str, str | None] = {}
        self.authorizers: dict[str, AuthorizerSpec] = {}
        self.routes: dict[str, Route] = {}
        self.connections: dict[str, Connection] = {}
        self.cache = AuthorizerCache(ctx.clock.now)
        mine = {
            lid: r for lid, r in template.resources.items() if r["Properties"].get("ApiId") == self.api_id
        }
        for lid, res in mine.items():
            props = res["Properties"]
            match res["Type"]:
                case "AWS::ApiGatewayV2::Stage":
                    self.stage = str(props["StageName"])
                case "AWS::ApiGatewayV2::Integration":
                    uri = props.get("IntegrationUri", "")
                    integrations[template.physical_id(lid)] = function_from_uri(uri, template.logical_id_for)
                case "AWS::ApiGatewayV2::Authorizer":
                    fn = function_from_uri(props.get("AuthorizerUri", ""), template.logical_id_for)
                    if fn is not None:
                        sources = props.get("IdentitySource") or []
                        self.authorizers[template.physical_id(lid)] = AuthorizerSpec(
                            function_id=fn,
                            kind="REQUEST",
                            identity_sources=tuple([sources] if isinstance(sources, str) else sources),
                            ttl_seconds=0,
                        )
        for res in mine.values():
            props = res["Properties"]
            if res["Type"] != "AWS::ApiGatewayV2::Route":
                continue
            target = str(props.get("Target", "")).removeprefix("integrations/")
            self.routes[props["RouteKey"]] = Route(
                key=props["RouteKey"],
                function_id=integrations.get(target),
                authorizer_id=props.get("AuthorizerId")
                if props.get("AuthorizationType") == "CUSTOM"
                else None,
                two_way=bool(props.get("RouteResponseSelectionExpression")),
            )

    # -- events ----------------------------------------------------------------------------------
    def _request_context(
        self,
        connection_id: str,
        connected_at: int,
        route_key: str,
        event_type: str,
        ip: str,
        agent: str | None,
    ) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        when, epoch_ms = request_time(self.ctx.clock.now())
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id[:16],
            "requestTime": when,
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": connected_at,
            "requestTimeEpoch": epoch_ms,
            "identity": {"sourceIp": ip, "userAgent": agent},
            "requestId": request_id,
            "domainName": f"{self.api_id}.execute-api.{REGION}.amazonaws.com",
            "connectionId": connection_id,
            "apiId": self.api_id,
        }

    async def _invoke(self, route: Route, event: dict[str, Any]) -> Any:
        if route.function_id is None:
            raise FunctionError({"errorMessage": f"route {route.key} has no Lambda integration"})
        return await anyio.to_thread.run_sync(self.ctx.functions.invoke, route.function_id, event)

    # -- the socket ------------------------------------------------------------------------------
    async def serve(self, socket: WebSocket) -> None:
        connection_id = base64.b64encode(secrets.token_bytes(9)).decode().replace("/", "_").replace("+", "-")
        connected_at = int(self.ctx.clock.now() * 1000)
        ip = socket.client.host if socket.client else "127.0.0.1"
        agent = socket.headers.get("user-agent")
        query = dict(socket.query_params)
        multi_query: dict[str, list[str]] = {}
        for key, value in socket.query_params.multi_items():
            multi_query.setdefault(key, []).append(value)
        headers = dict(socket.headers)
        multi_headers: dict[str, list[str]] = {}
        for key, value in socket.headers.items():
            multi_headers.setdefault(key, []).append(value)
        request_context = self._request_context(connection_id, connected_at, "$connect", "CONNECT", ip, agent)
        connect_event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": request_context,
            "isBase64Encoded": False,
        }
        route = self.routes.get("$connect")
        authorizer_context: dict[str, Any] | None = None
        if route and route.authorizer_id:
            status, authorizer_context = await self._authorize(route, connect_event, query, headers)
            if authorizer_context is None:
                await socket.send_denial_response(
                    Response(json.dumps({"message": _REASONS.get(status)}), status)
                )
                return
            request_context["authorizer"] = authorizer_context
        if route and route.function_id:
            try:
                result = await self._invoke(route, connect_event)
            except FunctionError as exc:
                self.ctx.log.error("$connect failed: %s", exc.payload)
                await socket.send_denial_response(Response('{"message": "Internal server error"}', 500))
                return
            status = _status_of(result)
            if not 200 <= status < 300:
                await socket.send_denial_response(Response(_body_of(result) or "", status))
                return
        await socket.accept()
        connection = Connection(connection_id, socket, connected_at, ip, agent, authorizer_context)
        connection.last_active = self.ctx.clock.now()
        self.connections[connection_id] = connection
        tasks: set[asyncio.Task[None]] = set()
        watchdog = asyncio.create_task(self._close_when_due(connection))
        close_code = 1000
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code", 1000))
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", errors="replace")
                connection.last_active = self.ctx.clock.now()
                # Messages run concurrently, as API Gateway invokes each one independently.
                task = asyncio.create_task(self._message(connection, text or ""))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        finally:
            watchdog.cancel()
            self.connections.pop(connection_id, None)
            await self._disconnect(connection, close_code)

    async def _close_when_due(self, connection: Connection) -> None:
        """Close the connection as API Gateway does when it is idle too long or reaches its 2 hours."""
        clock = self.ctx.clock
        while True:
            deadline, limit = connection.deadline()
            now = clock.now()
            if now >= deadline:
                break
            # Woken at the deadline as it stands; activity meanwhile moves it, so look again then.
            await asyncio.sleep(clock.real_seconds(deadline - now))
        self.ctx.log.info("closing WebSocket %s: %s", connection.id, limit)
        connection.closed_by_gateway = (GOING_AWAY, GOING_AWAY_REASON)
        # Gone for @connections at once (410), as on AWS; the receive loop then calls $disconnect.
        self.connections.pop(connection.id, None)
        async with connection.lock:
            with contextlib.suppress(RuntimeError, OSError):
                await connection.socket.close(GOING_AWAY, GOING_AWAY_REASON)

    async def _authorize(
        self, route: Route, event: dict[str, Any], query: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        spec = self.authorizers.get(route.authorizer_id or "")
        if spec is None:
            return 500, None
        identities = []
        for source in spec.identity_sources:
            if source.startswith("route.request.querystring."):
                identities.append(query.get(source.removeprefix("route.request.querystring."), ""))
            elif source.startswith("route.request.header."):
                identities.append(headers.get(source.removeprefix("route.request.header.").lower(), ""))
            else:
                identities.append("")
        if not identities or any(not value for value in identities):
            return 401, None
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.api_id}/{self.stage}/$connect"
        auth_event = {"type": "REQUEST", "methodArn": method_arn, **event, "stageVariables": {}}
        try:
            context = await anyio.to_thread.run_sync(
                lambda: authorize(
                    spec, tuple(identities), auth_event, method_arn, self.ctx.functions, self.cache, route.key
                )
            )
        except AuthorizerDenied as denied:
            return denied.status, None
        return 200, context

    async def _message(self, connection: Connection, text: str) -> None:
        route_key = self._select_route(text)
        route = self.routes.get(route_key) or self.routes.get("$default")
        request_context = self._request_context(
            connection.id,
            connection.connected_at,
            route.key if route else route_key,
            "MESSAGE",
            connection.source_ip,
            connection.user_agent,
        )
        request_context["messageId"] = base64.b64encode(secrets.token_bytes(9)).decode()
        if connection.authorizer is not None:
            request_context["authorizer"] = connection.authorizer
        error = {
            "message": "Forbidden",
            "connectionId": connection.id,
            "requestId": request_context["requestId"],
        }
        if route is None:
            await self.send(connection.id, json.dumps(error))
            return
        event = {"requestContext": request_context, "body": text, "isBase64Encoded": False}
        try:
            result = await self._invoke(route, event)
        except FunctionError as exc:
            self.ctx.log.error("route %s failed: %s", route.key, exc.payload)
            await self.send(connection.id, json.dumps(error | {"message": "Internal server error"}))
            return
        if route.two_way and result is not None:
            reply = _body_of(result) if isinstance(result, dict) and "body" in result else json.dumps(result)
            if reply is not None:
                await self.send(connection.id, reply)

    def _select_route(self, text: str) -> str:
        expression = self.selection
        if not expression.startswith("$request.body."):
            return "$default"
        try:
            value: Any = json.loads(text)
        except ValueError:
            return "$default"
        for part in expression.removeprefix("$request.body.").split("."):
            if not isinstance(value, dict) or part not in value:
                return "$default"
            value = value[part]
        return value if isinstance(value, str) else "$default"

    async def _disconnect(self, connection: Connection, code: int) -> None:
        route = self.routes.get("$disconnect")
        if route is None or route.function_id is None:
            return
        request_context = self._request_context(
            connection.id,
            connection.connected_at,
            "$disconnect",
            "DISCONNECT",
            connection.source_ip,
            connection.user_agent,
        )
        if connection.closed_by_gateway is not None:
            code, reason = connection.closed_by_gateway
        else:
            reason = "Client-side close frame status code" if code else ""
        request_context["disconnectStatusCode"] = code
        request_context["disconnectReason"] = reason
        if connection.authorizer is not None:
            request_context["authorizer"] = connection.authorizer
        event = {
            "headers": {},
            "multiValueHeaders": {},
            "requestContext": request_context,
            "isBase64Encoded": False,
        }
        try:
            await self._invoke(route, event)
        except FunctionError as exc:
            self.ctx.log.error("$disconnect failed: %s", exc.payload)

    async def send(self, connection_id: str, data: str | bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        async with connection.lock:
            try:
                if isinstance(data, bytes):
                    await connection.socket.send_bytes(data)
                else:
                    await connection.socket.send_text(data)
            except (RuntimeError, WebSocketDisconnect, OSError):
                return False
        connection.last_active = self.ctx.clock.now()
        return True

    # -- @connections ----------------------------------------------------------------------------
    async def management(self, request: Request) -> Response:
        if request.path_params["stage"] != self.stage:
            return JSONResponse({"message": "Missing Authentication Token"}, 403)
        connection_id = request.path_params["connection_id"]
        connection = self.connections.get(connection_id)
        if connection is None:
            return _gone()
        if request.method == "POST":
            body = await request.body()
            try:
                data: str | bytes = body.decode("utf-8")
            except UnicodeDecodeError:
                data = body
            if not await self.send(connection_id, data):
                return _gone()
            return Response(status_code=200)
        if request.method == "GET":
            return JSONResponse(
                {
                    "connectedAt": _iso(connection.connected_at / 1000),
                    "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                    "lastActiveAt": _iso(connection.last_active or connection.connected_at / 1000),
                }
            )
        self.connections.pop(connection_id, None)
        async with connection.lock:
            with contextlib.suppress(RuntimeError, OSError):
                await connection.socket.close(1000)
        return Response(status_code=204)


_REASONS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal server error"}


def _gone() -> Response:
    return JSONResponse({"message": None}, 410, headers={"x-amzn-ErrorType": "GoneException"})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _status_of(result: Any) -> int:
    if isinstance(result, dict) and "statusCode" in result:
        try:
            return int(result["statusCode"])
        except (TypeError, ValueError):
            return 502
    return 200


def _body_of(result: Any) -> str | None:
    if isinstance(result, dict):
        body = result.get("body")
        return body if isinstance(body, str) or body is None else json.dumps(body)
    return None
