"""Authorizer policy evaluation and caching, gateway response rendering, config placeholders, URL rewrites."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from local.runtime.authorizers import (
    AuthorizerCache,
    AuthorizerDenied,
    AuthorizerSpec,
    authorize,
    function_from_uri,
    policy_allows,
)
from local.runtime.config import RuntimeConfig, is_stale
from local.runtime.context import FunctionError
from local.runtime.functions import rewrite_api_urls
from local.runtime.gateway_responses import GatewayError, GatewayResponses

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod"


def policy(effect: str, resource: str | list[str], action: str = "execute-api:Invoke") -> dict[str, Any]:
    return {"Statement": [{"Effect": effect, "Action": action, "Resource": resource}]}


def test_policy_wildcards_and_explicit_deny() -> None:
    assert policy_allows(policy("Allow", f"{ARN}/*"), f"{ARN}/GET/items/1") == (True, False)
    assert policy_allows(policy("Allow", f"{ARN}/GET/items/*"), f"{ARN}/POST/items/1") == (False, False)
    assert policy_allows(policy("Allow", f"{ARN}/*", action="s3:GetObject"), f"{ARN}/GET/x") == (False, False)
    both = {
        "Statement": [*policy("Allow", "*")["Statement"], *policy("Deny", f"{ARN}/DELETE/*")["Statement"]]
    }
    assert policy_allows(both, f"{ARN}/DELETE/x") == (False, True)
    assert policy_allows(both, f"{ARN}/GET/x") == (True, False)


class CountingFunctions:
    def __init__(self, result: Any = None, error: str | None = None) -> None:
        self.calls = 0
        self.result = result
        self.error = error

    def invoke(self, logical_id: str, event: dict[str, Any], *, asynchronous: bool = False) -> Any:
        self.calls += 1
        if self.error:
            raise FunctionError({"errorMessage": self.error, "errorType": "Exception"})
        return self.result


def test_authorize_caches_per_identity_until_the_ttl_passes() -> None:
    now = [1000.0]
    cache = AuthorizerCache(lambda: now[0])
    spec = AuthorizerSpec("Auth", "TOKEN", ("method.request.header.Authorization",), ttl_seconds=300)
    functions = CountingFunctions(
        {
            "principalId": "u1",
            "policyDocument": policy("Allow", f"{ARN}/GET/*"),
            "context": {"tenant_id": "t", "skip": None},
        }
    )
    first = authorize(spec, ("tok",), {}, f"{ARN}/GET/a", functions, cache, "auth1")
    assert first == {"tenant_id": "t", "principalId": "u1", "integrationLatency": 0}
    with pytest.raises(AuthorizerDenied) as denied:
        authorize(spec, ("tok",), {}, f"{ARN}/POST/a", functions, cache, "auth1")
    assert denied.value.status == 403
    assert functions.calls == 1
    authorize(spec, ("other",), {}, f"{ARN}/GET/a", functions, cache, "auth1")
    assert functions.calls == 2
    now[0] += 301
    authorize(spec, ("tok",), {}, f"{ARN}/GET/a", functions, cache, "auth1")
    assert functions.calls == 3


@pytest.mark.parametrize(
    ("error", "result", "status", "response_type"),
    [
        ("Unauthorized", None, 401, "UNAUTHORIZED"),
        ("boom", None, 500, "AUTHORIZER_FAILURE"),
        (None, {"principalId": "x"}, 500, "AUTHORIZER_CONFIGURATION_ERROR"),
        (None, {"principalId": "x", "policyDocument": policy("Deny", "*")}, 403, "ACCESS_DENIED"),
    ],
)
def test_authorize_failures_map_to_api_gateway_statuses(
    error: str | None, result: Any, status: int, response_type: str
) -> None:
    spec = AuthorizerSpec("Auth", "TOKEN", ("h",), ttl_seconds=0)
    with pytest.raises(AuthorizerDenied) as denied:
        authorize(
            spec,
            ("t",),
            {},
            f"{ARN}/GET/a",
            CountingFunctions(result, error),
            AuthorizerCache(lambda: 0),
            "a",
        )
    assert (denied.value.status, denied.value.response_type) == (status, response_type)


def test_function_from_uri() -> None:
    function_arn = "arn:aws:lambda:us-east-1:1:function:f"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    assert function_from_uri(uri, lambda arn: "Fn" if arn.endswith(":function:f") else None) == "Fn"
    assert function_from_uri("arn:aws:apigateway:us-east-1:sqs:path/x", lambda arn: "Fn") is None


def gateway_resource(response_type: str, **props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::GatewayResponse",
        "Properties": {"RestApiId": "api", "ResponseType": response_type, **props},
    }


def test_gateway_response_specific_then_default_then_aws_default() -> None:
    responses = GatewayResponses(
        {
            "A": gateway_resource(
                "UNAUTHORIZED",
                StatusCode="401",
                ResponseParameters={
                    "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
                    "gatewayresponse.header.X-Static": "'yes'",
                },
                ResponseTemplates={
                    "application/json": '{"e": $context.error.messageString, "id": "${context.requestId}"}'
                },
            ),
            "B": gateway_resource(
                "DEFAULT_4XX",
                ResponseTemplates={"application/json": '{"v": "$context.error.validationErrorString"}'},
            ),
            "Other": {
                **gateway_resource("DEFAULT_5XX"),
                "Properties": {"RestApiId": "elsewhere", "ResponseType": "DEFAULT_5XX"},
            },
        },
        "api",
    )
    unauthorized = responses.render(
        GatewayError("UNAUTHORIZED", "Unauthorized"), {"origin": "http://o"}, {"requestId": "r1"}
    )
    assert unauthorized.status_code == 401
    assert json.loads(unauthorized.body) == {"e": "Unauthorized", "id": "r1"}
    assert unauthorized.headers["access-control-allow-origin"] == "http://o"
    assert unauthorized.headers["x-static"] == "yes"
    bad = responses.render(
        GatewayError("BAD_REQUEST_BODY", "Invalid request body", validation_error="[x]"), {}, {}
    )
    assert bad.status_code == 400 and json.loads(bad.body) == {"v": "[x]"}
    failure = responses.render(GatewayError("DEFAULT_5XX", "Internal server error", 502), {}, {})
    assert failure.status_code == 502 and json.loads(failure.body) == {"message": "Internal server error"}


def test_config_placeholders_secrets_by_prefix_and_staleness(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1")
    config_path = tmp_path / "conf" / "runtime.toml"
    config_path.parent.mkdir()
    config_path.write_text(
        'root = ".."\nsources = ["src/**"]\n[secrets]\nJwtSecret = "{jwt_secret}"\nJwtSecretLonger = "long"\n'
        '[secrets.App]\nkey = "k-{port}"\nn = 3\n[env]\nURL = "http://127.0.0.1:{port}"\n'
        '[tokens.admin]\nsub = "u"\nroles = ["admin"]\n'
    )
    config = RuntimeConfig.load(config_path)
    values = {"jwt_secret": "s3", "port": "9"}
    assert config.root == tmp_path
    assert config.secret_value("JwtSecretABC123", values) == "s3"
    assert config.secret_value("JwtSecretLongerX", values) == "long"
    assert json.loads(config.secret_value("AppSecret1", values) or "") == {"key": "k-9", "n": 3}
    assert config.secret_value("Other", values) is None
    assert config.secret_value("SecurityJwtSecretE55CB4E5", values) == "s3"
    assert config.secret_value("SecurityJwtSecretLongerE55CB4E5", values) == "long"
    assert config.tokens["admin"]["roles"] == ["admin"]
    template = tmp_path / "t.json"
    assert is_stale(template, config)
    template.write_text("{}")
    assert not is_stale(template, config)
    config.synth_command = "make-it"
    assert is_stale(template, config), "a template without this command's stamp is stale"
    (tmp_path / ".local-runtime-synth").write_text("make-it")
    assert not is_stale(template, config)
    config.synth_command = ""
    newer = template.stat().st_mtime + 10
    (tmp_path / "src" / "a.py").touch()

    os.utime(tmp_path / "src" / "a.py", (newer, newer))
    assert is_stale(template, config)


def test_execute_api_urls_are_rewritten_to_the_local_server() -> None:
    base = "http://127.0.0.1:3001"
    rest = "https://rest123.execute-api.us-east-1.amazonaws.com/prod/"
    ws = "https://ws456.execute-api.us-east-1.amazonaws.com/dev"
    assert rewrite_api_urls(rest, {"rest123"}, {"ws456"}, base) == base + "/"
    assert rewrite_api_urls(ws, {"rest123"}, {"ws456"}, base) == base + "/dev"
    assert rewrite_api_urls("wss://ws456.execute-api.us-east-1.amazonaws.com", set(), {"ws456"}, base) == (
        "ws://127.0.0.1:3001/ws"
    )
    foreign = "https://other.execute-api.us-east-1.amazonaws.com/prod"
    assert rewrite_api_urls(foreign, {"rest123"}, {"ws456"}, base) == foreign
