"""The runtime's WebSocket API closes connections as API Gateway does, on the virtual clock: idle for 10
minutes (a message either way resets it), and 2 hours after connecting whatever happens; each close is 1001
and reaches $disconnect."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from local.runtime.clock import VirtualClock
from local.runtime.context import RuntimeContext
from local.runtime.template import Template
from local.runtime.websocket import GOING_AWAY, IDLE_TIMEOUT, MAX_CONNECTION_DURATION, WebSocketApi

# 2 virtual hours in one real second; 10 idle minutes in 1/12 s.
SPEED = 7200.0


def ws_template() -> Template:
    integration_uri = {
        "Fn::Join": [
            "",
            [
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/",
                {"Fn::GetAtt": ["Fn", "Arn"]},
                "/invocations",
            ],
        ]
    }
    resources: dict[str, Any] = {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "h.handler"}},
        "Ws": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
        },
        "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {"ApiId": {"Ref": "Ws"}, "IntegrationUri": integration_uri},
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Ws"}, "StageName": "prod"},
        },
    }
    for n, key in enumerate(("$connect", "$disconnect", "$default")):
        resources[f"Route{n}"] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Ws"},
                "RouteKey": key,
                "Target": {"Fn::Join": ["", ["integrations/", {"Ref": "Integration"}]]},
            },
        }
    return Template({"Resources": resources})


class RecordingFunctions:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any], *, asynchronous: bool = False) -> Any:
        self.events.append(event)
        return {"statusCode": 200}

    def disconnects(self) -> list[dict[str, Any]]:
        return [e["requestContext"] for e in self.events if e["requestContext"]["routeKey"] == "$disconnect"]


@pytest.fixture
def gateway() -> tuple[WebSocketApi, RecordingFunctions, TestClient]:
    functions = RecordingFunctions()
    ctx = RuntimeContext(
        template=ws_template(),
        functions=functions,
        clock=VirtualClock(SPEED),
        aws=lambda service: None,
        moto_url="",
        log=logging.getLogger("test"),
    )
    api = WebSocketApi(ctx, "Ws")

    async def endpoint(socket: WebSocket) -> None:
        await api.serve(socket)

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", endpoint),
            Route("/{stage}/@connections/{connection_id}", api.management, methods=["GET", "POST", "DELETE"]),
        ]
    )
    return api, functions, TestClient(app)


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.005)


def test_an_idle_connection_is_closed_after_ten_virtual_minutes(
    gateway: tuple[WebSocketApi, RecordingFunctions, TestClient],
) -> None:
    api, functions, client = gateway
    started = time.monotonic()
    with client.websocket_connect("/ws") as socket:
        wait_until(lambda: bool(api.connections))
        # Gone for @connections the moment the gateway closes it (a bounded wait: never a hang).
        wait_until(lambda: not api.connections)
        closed_after = (time.monotonic() - started) * SPEED
        message = socket.receive()
    assert message == {"type": "websocket.close", "code": GOING_AWAY, "reason": "Going away"}
    assert IDLE_TIMEOUT <= closed_after < MAX_CONNECTION_DURATION / 2
    wait_until(lambda: functions.disconnects())
    (disconnect,) = functions.disconnects()
    assert (disconnect["disconnectStatusCode"], disconnect["disconnectReason"]) == (GOING_AWAY, "Going away")
    assert api.connections == {}


def test_messages_either_way_keep_it_open_until_its_two_hours(
    gateway: tuple[WebSocketApi, RecordingFunctions, TestClient],
) -> None:
    api, functions, client = gateway
    started = time.monotonic()
    with client.websocket_connect("/ws") as socket:
        wait_until(lambda: bool(api.connections))
        (connection_id,) = api.connections
        virtual = 0.0
        turn = 0
        # Every 5 virtual minutes, a client message or a server push (@connections): never 10 idle minutes.
        while api.connections and virtual < MAX_CONNECTION_DURATION * 1.5:
            time.sleep(300 / SPEED)
            virtual = (time.monotonic() - started) * SPEED
            turn += 1
            if turn % 2:
                socket.send_text('{"action": "ping"}')
                continue
            if client.post(f"/prod/@connections/{connection_id}", content=b"{}").status_code == 410:
                break
            try:
                socket.receive_text()
            except WebSocketDisconnect:
                break  # the 2 hours ran out between the push and its reading
    assert virtual >= MAX_CONNECTION_DURATION - IDLE_TIMEOUT, f"closed after {virtual:.0f} virtual seconds"
    assert virtual < MAX_CONNECTION_DURATION * 1.5
    wait_until(lambda: functions.disconnects())
    assert functions.disconnects()[0]["disconnectStatusCode"] == GOING_AWAY
    gone = client.post(f"/prod/@connections/{connection_id}", content=b"{}")
    assert gone.status_code == 410
