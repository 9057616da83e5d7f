"""WebSocket API: route selection, routes, the REQUEST authorizer on $connect, two-way routes, stage."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import function_ids
from tests.support.template import resources_of_type


def routes(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        r["Properties"]["RouteKey"]: (lid, r["Properties"])
        for lid, r in resources_of_type(template, "AWS::ApiGatewayV2::Route").items()
    }


def test_websocket_api(template: dict[str, Any]) -> None:
    api = template["Resources"]["WsApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"


def test_every_route_goes_to_realtime(template: dict[str, Any]) -> None:
    found = routes(template)
    assert set(found) == {"$connect", "$disconnect", "$default", "subscribe", "unsubscribe", "ping"}
    realtime = function_ids(template)["realtime"]
    for _, props in found.values():
        integration_id = props["Target"]["Fn::Join"][1][1]["Ref"]
        integration = template["Resources"][integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert realtime in json.dumps(integration["IntegrationUri"])


def test_connect_uses_the_request_authorizer_on_the_token_query(template: dict[str, Any]) -> None:
    found = routes(template)
    _, connect = found["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = template["Resources"][connect["AuthorizerId"]["Ref"]]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert function_ids(template)["authorizer"] in json.dumps(authorizer["AuthorizerUri"])
    for key, (_, props) in found.items():
        if key != "$connect":
            assert props.get("AuthorizationType", "NONE") == "NONE", key


def test_message_routes_are_two_way(template: dict[str, Any]) -> None:
    found = routes(template)
    answered = {
        r["Properties"]["RouteId"]["Ref"]
        for r in resources_of_type(template, "AWS::ApiGatewayV2::RouteResponse").values()
        if r["Properties"]["RouteResponseKey"] == "$default"
    }
    assert answered == {found[k][0] for k in ("subscribe", "unsubscribe", "ping", "$default")}


def test_stage_auto_deploys_with_access_logs(template: dict[str, Any]) -> None:
    stages = list(resources_of_type(template, "AWS::ApiGatewayV2::Stage").values())
    assert len(stages) == 1
    props = stages[0]["Properties"]
    assert props["StageName"] == "prod"
    assert props["AutoDeploy"] is True
    assert props["ApiId"] == {"Ref": "WsApi"}
    assert "$context.connectionId" in props["AccessLogSettings"]["Format"]
