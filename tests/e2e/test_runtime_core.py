"""The local runtime's core over HTTP and WebSocket, against the fixture CDK app (no wallet code)."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningRuntime, start_runtime, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runtime(
    fixture_template: Path, fixture_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRuntime]:
    with start_runtime(fixture_template, fixture_config, tmp_path_factory.mktemp("rt")) as running:
        yield running


@pytest.fixture
def http(runtime: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=runtime.rest_url, timeout=15) as client:
        yield client


def records(runtime: RunningRuntime, kind: str) -> list[dict[str, Any]]:
    table = runtime.aws("dynamodb")
    name = table.list_tables()["TableNames"][0]
    items = table.query(
        TableName=name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RECORD#{kind}"}},
    )["Items"]
    return [json.loads(item["body"]["S"]) for item in items]


def authorizer_calls(runtime: RunningRuntime, token: str, kind: str = "TOKEN") -> int:
    return sum(1 for r in records(runtime, "authorizer") if r["token"] == token and r["type"] == kind)


def test_public_route_gets_an_api_gateway_v1_event(runtime: RunningRuntime, http: httpx.Client) -> None:
    response = http.get("/public/alice?x=1&x=2&y=", headers={"X-Custom": "v"})
    assert response.status_code == 200
    assert response.headers["x-echo"] == "1"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert uuid.UUID(response.headers["x-amzn-requestid"])
    payload = response.json()
    event = payload["event"]
    assert event["resource"] == "/public/{name}"
    assert event["path"] == "/public/alice"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"name": "alice"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["x-custom"] == "v"
    assert event["multiValueHeaders"]["x-custom"] == ["v"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    ctx = event["requestContext"]
    assert ctx["stage"] == "prod"
    assert ctx["path"] == "/prod/public/alice"
    assert ctx["resourcePath"] == "/public/{name}"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["requestId"] == response.headers["x-amzn-requestid"]
    assert ctx["apiId"] and "authorizer" not in ctx
    assert abs(ctx["requestTimeEpoch"] / 1000 - runtime.state["clock_origin"]) < 600
    context = payload["context"]
    assert context["function_name"].startswith("RuntimeFixture-EchoFunction")
    assert context["invoked_function_arn"].endswith(":function:" + context["function_name"])
    assert context["memory_limit_in_mb"] == 128
    assert 0 < context["remaining_ms"] <= 5000
    assert context["log_group_name"] == "/aws/lambda/" + context["function_name"]
    assert payload["layer"] == "fixture-layer"
    env = payload["env"]
    assert env["AWS_ENDPOINT_URL"] == runtime.moto_url
    assert env["AWS_REGION"] == "us-east-1"
    assert env["WALLETS_SPEED"] == "1.0"
    assert env["REST_URL"] == runtime.rest_url + "/"
    assert env["EXTRA_BASE_URL"] == f"http://127.0.0.1:{runtime.port}"
    assert env["JWT_SECRET_ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")


def test_resources_exist_in_moto_with_configured_secret(runtime: RunningRuntime, http: httpx.Client) -> None:
    env = http.get("/health").json()["env"]
    secrets = runtime.aws("secretsmanager")
    assert (
        secrets.get_secret_value(SecretId=env["JWT_SECRET_ARN"])["SecretString"]
        == runtime.state["jwt_secret"]
    )
    generated = json.loads(secrets.get_secret_value(SecretId=env["GENERATED_SECRET_ARN"])["SecretString"])
    assert generated["user"] == "fixture" and len(generated["password"]) == 32
    table = runtime.aws("dynamodb").describe_table(TableName=env["TABLE_NAME"])["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    ttl = runtime.aws("dynamodb").describe_time_to_live(TableName=env["TABLE_NAME"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "ttl"
    kms = runtime.aws("kms")
    assert kms.describe_key(KeyId=env["KMS_KEY_ID"])["KeyMetadata"]["KeyId"] == env["KMS_KEY_ID"]
    assert "alias/fixture-key" in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    buses = [b["Name"] for b in runtime.aws("events").list_event_buses()["EventBuses"]]
    assert "fixture-bus" in buses
    groups = [g["Name"] for g in runtime.aws("scheduler").list_schedule_groups()["ScheduleGroups"]]
    assert "fixture-group" in groups
    assert runtime.aws("ssm").get_parameter(Name=env["PARAM_NAME"])["Parameter"]["Value"] == "hello"


def test_token_authorizer_allow_deny_missing_and_cache(runtime: RunningRuntime, http: httpx.Client) -> None:
    missing = http.get("/private")
    assert missing.status_code == 401
    assert missing.json() == {
        "success": False,
        "error": "Unauthorized",
        "code": "unauthorized",
        "request_id": missing.headers["x-amzn-requestid"],
    }
    assert missing.headers["access-control-allow-origin"] == "*"
    assert authorizer_calls(runtime, "") == 0

    bad = http.get("/private", headers={"Authorization": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "Unauthorized"
    denied = http.get("/private", headers={"Authorization": "deny"})
    assert denied.status_code == 403
    assert denied.json()["error"] == "User is not authorized to access this resource with an explicit deny"
    crashed = http.get("/private", headers={"Authorization": "boom"})
    assert crashed.status_code == 500

    first = http.get("/private", headers={"Authorization": "Bearer good"})
    second = http.post("/private", headers={"Authorization": "Bearer good"}, content=b'{"a": 1}')
    assert first.status_code == second.status_code == 200
    authorizer = first.json()["event"]["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-good"
    assert authorizer["tenant_id"] == "ten_fixture" and authorizer["roles"] == "merchant,admin"
    assert authorizer["level"] == 2
    assert second.json()["event"]["body"] == '{"a": 1}'
    assert authorizer_calls(runtime, "good") == 1

    # A cached policy is evaluated against each request's methodArn: "narrow" allows only GET /private.
    assert http.get("/private", headers={"Authorization": "narrow"}).status_code == 200
    refused = http.post("/private", headers={"Authorization": "narrow"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "User is not authorized to access this resource"
    assert authorizer_calls(runtime, "narrow") == 1
    assert authorizer_calls(runtime, "wrong") == 1


def test_missing_route_renders_the_default_4xx_gateway_response(http: httpx.Client) -> None:
    for response in (http.get("/no/such/route"), http.delete("/health")):
        assert response.status_code == 403
        assert response.json() == {
            "success": False,
            "error": "Missing Authentication Token",
            "code": "client_error",
            "details": "",
        }
        assert response.headers["access-control-allow-origin"] == "*"


def test_cors_preflight_is_answered_by_the_mock_integration(http: httpx.Client) -> None:
    listed = http.options("/private", headers={"Origin": "http://localhost:3002"})
    assert listed.status_code == 204
    assert listed.headers["access-control-allow-origin"] == "http://localhost:3002"
    assert listed.headers["access-control-allow-methods"] == "GET,POST"
    assert listed.headers["access-control-allow-headers"] == "Content-Type,Authorization"
    other = http.options("/public/x", headers={"Origin": "http://evil.example"})
    assert other.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_request_validator_checks_parameters_and_body(http: httpx.Client) -> None:
    no_tag = http.post("/items", json={"name": "a", "amount": 5})
    assert no_tag.status_code == 400
    assert no_tag.json()["error"] == "Missing required request parameters: [tag]"
    bad_body = http.post("/items?tag=t", json={"name": "a", "amount": 0})
    assert bad_body.status_code == 400
    assert bad_body.json()["error"] == "Invalid request body"
    assert "minimum" in bad_body.json()["details"]
    not_json = http.post("/items?tag=t", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    good = http.post("/items?tag=t", json={"name": "a", "amount": 5})
    assert good.status_code == 200
    assert json.loads(good.json()["event"]["body"]) == {"name": "a", "amount": 5}


def test_greedy_proxy_binary_malformed_and_failing_functions(http: httpx.Client) -> None:
    proxied = http.put("/proxy/a/b/c", content=b"\xff\x00")
    assert proxied.status_code == 200
    event = proxied.json()["event"]
    assert event["resource"] == "/proxy/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c"}
    assert event["httpMethod"] == "PUT"
    assert event["isBase64Encoded"] is True and event["body"] == "/wA="
    binary = http.get("/proxy/binary")
    assert binary.content == b"\x00\x01\x02\xff"
    assert binary.headers["content-type"] == "application/octet-stream"
    for path in ("/proxy/malformed", "/proxy/error"):
        failed = http.get(path)
        assert failed.status_code == 502
        assert failed.json() == {"message": "Internal server error"}


def test_function_timeout_kills_the_worker_and_the_next_call_gets_a_fresh_one(http: httpx.Client) -> None:
    timed_out = http.get("/slow", params={"seconds": "30"})
    assert timed_out.status_code == 502
    assert http.get("/slow", params={"seconds": "0"}).text == "finished"


def test_payload_over_10_mb_is_refused(http: httpx.Client) -> None:
    response = http.post("/proxy/big", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "Request Too Long"


def _ws(runtime: RunningRuntime, query: str) -> ClientConnection:
    return connect(f"{runtime.ws_url}{query}", open_timeout=15)


def _rejected_status(runtime: RunningRuntime, query: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        _ws(runtime, query).close()
    return refused.value.response.status_code


def test_websocket_connect_requires_the_authorizer(runtime: RunningRuntime) -> None:
    assert _rejected_status(runtime, "") == 401
    assert _rejected_status(runtime, "?token=wrong") == 401
    assert _rejected_status(runtime, "?token=deny") == 403
    assert _rejected_status(runtime, "?token=good&reject=1") == 403
    assert authorizer_calls(runtime, "wrong", "REQUEST") == 1


def test_websocket_routes_replies_and_connections_api(runtime: RunningRuntime) -> None:
    client = management_client(runtime)
    with _ws(runtime, "?token=good") as socket:
        socket.send(json.dumps({"action": "echo", "n": 1}))
        reply = json.loads(socket.recv(timeout=10))
        assert reply["echo"] == {"action": "echo", "n": 1}
        ctx = reply["event"]["requestContext"]
        assert ctx["routeKey"] == "echo" and ctx["eventType"] == "MESSAGE" and ctx["stage"] == "dev"
        assert ctx["authorizer"]["principalId"] == "user-good"
        connection_id = ctx["connectionId"]

        socket.send("not json at all")
        fallback = json.loads(socket.recv(timeout=10))
        assert fallback["echo"] == "not json at all"
        assert fallback["event"]["requestContext"]["routeKey"] == "$default"

        socket.send(json.dumps({"action": "record", "payload": "hi"}))
        assert json.loads(socket.recv(timeout=10)) == {"recorded": "hi"}

        client.post_to_connection(ConnectionId=connection_id, Data=b'{"pushed": true}')
        assert json.loads(socket.recv(timeout=10)) == {"pushed": True}
        info = client.get_connection(ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["ConnectedAt"].year >= 2024

    connects = [
        r for r in records(runtime, "ws-connect") if r["requestContext"]["connectionId"] == connection_id
    ]
    assert len(connects) == 1
    assert connects[0]["queryStringParameters"]["token"] == "good"
    assert connects[0]["requestContext"]["eventType"] == "CONNECT"
    assert connects[0]["requestContext"]["authorizer"]["tenant_id"] == "ten_fixture"
    wait_for(
        lambda: any(
            r["requestContext"]["connectionId"] == connection_id for r in records(runtime, "ws-disconnect")
        )
    )
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        client.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert isinstance(gone.value, client.exceptions.GoneException)


def management_client(runtime: RunningRuntime) -> Any:
    """botocore's own apigatewaymanagementapi client, pointed at the runtime as WS_CALLBACK_URL would be."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=runtime.state["ws_management_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_sigterm_stops_everything_cleanly(
    fixture_template: Path, fixture_config: Path, tmp_path: Path
) -> None:
    with start_runtime(fixture_template, fixture_config, tmp_path, speed=60) as running:
        env = httpx.get(f"{running.rest_url}/health", timeout=15).json()["env"]
        assert env["WALLETS_SPEED"] == "60.0"
        state_files = list(tmp_path.glob("runtime-*.json"))
        assert len(state_files) == 1
        os.kill(running.process.pid, signal.SIGTERM)
        assert running.process.wait(timeout=20) == 0
    assert not list(tmp_path.glob("runtime-*.json"))
