"""REST API: every contract route with its auth, the TOKEN authorizer, CORS, validation, gateway errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.api import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, ROUTES
from tests.infra.conftest import function_ids
from tests.support.template import resources_of_type

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/public/claim/{token}"),
    ("GET", "/api/v2/invoice-wallets/{walletId}/countdown"),
    ("GET", "/public/pay/{token}"),
    ("POST", "/webhooks/stripe"),
}
# Spelled out again (not taken from infra.api) so that a route dropped from the stack fails here.
CONTRACT_ROUTES = {
    ("GET", "/health"): "health",
    ("POST", "/api/v1/invoices"): "invoices",
    ("GET", "/api/v1/invoices"): "invoices",
    ("GET", "/api/v1/invoices/{id}"): "invoices",
    ("DELETE", "/api/v1/invoices/{id}"): "invoices",
    ("POST", "/api/v1/invoices/{id}/send"): "invoices",
    ("POST", "/api/v1/invoices/{id}/void"): "invoices",
    ("POST", "/api/v1/invoices/bulk"): "invoice_batches",
    ("POST", "/api/v1/invoices/create-wallet"): "create_wallet",
    ("POST", "/api/v1/wallets/ephemeral/create"): "create_wallet",
    ("POST", "/api/v2/invoice-wallets/create-from-invoice"): "create_wallet",
    ("GET", "/api/v2/invoice-wallets/{walletId}"): "wallets",
    ("GET", "/api/v2/invoice-wallets/{walletId}/status"): "wallets",
    ("GET", "/api/v2/invoice-wallets/{walletId}/countdown"): "wallets",
    ("POST", "/api/v2/invoice-wallets/{walletId}/transform"): "create_wallet",
    ("GET", "/api/v2/invoice-wallets/by-invoice/{invoiceId}"): "wallets",
    ("GET", "/api/v2/invoice-wallets/stats"): "wallets",
    ("GET", "/api/v2/invoice-wallets/active"): "wallets",
    ("POST", "/api/v2/invoice-wallets/{walletId}/fund"): "fund",
    ("POST", "/api/v2/invoice-wallets/{walletId}/refund"): "fund",
    ("POST", "/api/v2/invoice-wallets/{walletId}/pay-invoice"): "pay",
    ("GET", "/public/pay/{token}"): "pay",
    ("POST", "/api/v2/reserve/reconcile"): "reconcile",
    ("GET", "/api/v2/reserve/reconciliations"): "reconcile",
    ("GET", "/api/v1/providers/health"): "providers",
    ("GET", "/api/v2/provider-health/status"): "providers",
    ("GET", "/api/v2/provider-health/history"): "providers",
    ("ANY", "/api/consumer/{proxy+}"): "consumer",
    ("POST", "/api/consumer/upgrade-kyc"): "consumer_kyc",
    ("POST", "/api/consumer/batch-transfer"): "consumer_transfers",
    ("GET", "/api/consumer/batch-transfer/{id}"): "consumer_transfers",
    ("POST", "/api/consumer/batch-transfer/{id}/retry-failed"): "consumer_transfers",
    ("POST", "/api/consumer/swap/quote"): "consumer_swaps",
    ("POST", "/api/consumer/swap"): "consumer_swaps",
    ("POST", "/api/consumer/requests"): "consumer_requests",
    ("POST", "/api/consumer/requests/{id}/accept"): "consumer_requests",
    ("POST", "/api/consumer/requests/{id}/decline"): "consumer_requests",
    ("POST", "/api/consumer/deposit"): "consumer_money",
    ("POST", "/api/consumer/withdraw"): "consumer_money",
    ("POST", "/api/consumer/transfer"): "consumer_money",
    ("GET", "/api/v1/events"): "events",
    ("GET", "/api/v1/events/{id}"): "events",
    ("POST", "/api/v1/webhook-endpoints"): "webhook_endpoints",
    ("GET", "/api/v1/webhook-endpoints"): "webhook_endpoints",
    ("GET", "/api/v1/webhook-endpoints/{id}"): "webhook_endpoints",
    ("PATCH", "/api/v1/webhook-endpoints/{id}"): "webhook_endpoints",
    ("DELETE", "/api/v1/webhook-endpoints/{id}"): "webhook_endpoints",
    ("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret"): "webhook_endpoints",
    ("GET", "/api/v1/webhook-endpoints/{id}/deliveries"): "webhook_delivery",
    ("POST", "/api/v1/webhook-endpoints/{id}/redeliver"): "webhook_delivery",
    ("POST", "/api/v1/webhook-deliveries/{id}/redeliver"): "webhook_delivery",
    ("POST", "/webhooks/stripe"): "webhooks",
    ("POST", "/api/v1/invoice-imports"): "invoice_batches",
    ("GET", "/api/v1/invoice-imports/{id}"): "invoice_batches",
    ("GET", "/api/v1/audit"): "audit_views",
    ("GET", "/api/v2/destruction-logs"): "audit_views",
    ("GET", "/api/v2/destruction-logs/{walletId}"): "audit_views",
    ("GET", "/api/v1/treasury"): "payouts",
    ("POST", "/api/v1/treasury/deposit"): "payouts",
    ("POST", "/api/v1/payouts"): "payouts",
    ("ANY", "/api/v1/payouts/{proxy+}"): "payouts",
    ("GET", "/public/claim/{token}"): "payouts",
    ("POST", "/public/claim/{token}"): "payouts",
}
JSON_BODY = {
    ("POST", "/api/v1/invoices"),
    ("POST", "/api/v1/invoices/bulk"),
    ("POST", "/api/v1/invoices/create-wallet"),
    ("POST", "/api/v1/wallets/ephemeral/create"),
    ("POST", "/api/v2/invoice-wallets/create-from-invoice"),
    ("POST", "/api/v2/invoice-wallets/{walletId}/fund"),
    ("POST", "/api/consumer/upgrade-kyc"),
    ("POST", "/api/consumer/batch-transfer"),
    ("POST", "/api/consumer/swap/quote"),
    ("POST", "/api/consumer/swap"),
    ("POST", "/api/consumer/requests"),
    ("POST", "/api/consumer/deposit"),
    ("POST", "/api/consumer/withdraw"),
    ("POST", "/api/consumer/transfer"),
    ("POST", "/api/v1/webhook-endpoints"),
    ("POST", "/api/v1/webhook-endpoints/{id}/redeliver"),
    ("POST", "/api/v1/treasury/deposit"),
    ("POST", "/api/v1/payouts"),
}


def resource_paths(template: dict[str, Any]) -> dict[str, str]:
    """Logical id of every AWS::ApiGateway::Resource (and the root) -> its full path."""
    resources = resources_of_type(template, "AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(lid: str) -> str:
        if lid not in paths:
            props = resources[lid]["Properties"]
            parent = props["ParentId"]
            prefix = "" if "Fn::GetAtt" in parent else path_of(parent["Ref"])
            paths[lid] = f"{prefix}/{props['PathPart']}"
        return paths[lid]

    for lid in resources:
        path_of(lid)
    return paths


def methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    paths = resource_paths(template)
    out = {}
    for method in resources_of_type(template, "AWS::ApiGateway::Method").values():
        props = method["Properties"]
        ref = props["ResourceId"]
        path = "/" if "Fn::GetAtt" in ref else paths[ref["Ref"]]
        out[(props["HttpMethod"], path)] = props
    return out


def test_route_table_matches_the_contract() -> None:
    assert {(r.method, r.path): r.function for r in ROUTES} == CONTRACT_ROUTES


@pytest.mark.parametrize(("route", "folder"), sorted(CONTRACT_ROUTES.items()))
def test_route_is_a_proxy_to_its_function(
    template: dict[str, Any], route: tuple[str, str], folder: str
) -> None:
    props = methods(template)[route]
    integration = props["Integration"]
    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert function_ids(template)[folder] in json.dumps(integration["Uri"])


@pytest.mark.parametrize("route", sorted(CONTRACT_ROUTES))
def test_route_auth(template: dict[str, Any], route: tuple[str, str]) -> None:
    props = methods(template)[route]
    if route in PUBLIC:
        assert props["AuthorizationType"] == "NONE"
        assert "AuthorizerId" not in props
    else:
        assert props["AuthorizationType"] == "CUSTOM"
        authorizer = template["Resources"][props["AuthorizerId"]["Ref"]]
        assert authorizer["Type"] == "AWS::ApiGateway::Authorizer"


def test_no_method_beyond_the_contract_and_preflight(template: dict[str, Any]) -> None:
    extra = {k for k in methods(template) if k not in CONTRACT_ROUTES and k[0] != "OPTIONS"}
    assert extra == set()


def test_token_authorizer(template: dict[str, Any]) -> None:
    authorizers = list(resources_of_type(template, "AWS::ApiGateway::Authorizer").values())
    assert len(authorizers) == 1
    props = authorizers[0]["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    # At most a minute, and never past a token's exp (the functions check exp from the cached context).
    assert 0 < props["AuthorizerResultTtlInSeconds"] <= 60
    assert function_ids(template)["authorizer"] in json.dumps(props["AuthorizerUri"])


def test_preflight_on_every_route(template: dict[str, Any]) -> None:
    all_methods = methods(template)
    for _, path in CONTRACT_ROUTES:
        preflight = all_methods[("OPTIONS", path)]
        assert preflight["AuthorizationType"] == "NONE"
        integration = preflight["Integration"]
        assert integration["Type"] == "MOCK"
        headers = integration["IntegrationResponses"][0]["ResponseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Headers"] == (
            "'" + ",".join(CORS_ALLOW_HEADERS) + "'"
        )
        assert headers["method.response.header.Access-Control-Expose-Headers"] == (
            "'" + ",".join(CORS_EXPOSE_HEADERS) + "'"
        )
        # Several origins: the first is the default, the template switches to any other listed one.
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'http://localhost:3000'"
        template_vtl = integration["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
        for origin in ("http://localhost:3002", "http://localhost:3003", "http://localhost:3007"):
            assert f'$origin == "{origin}"' in template_vtl


def test_contract_cors_headers() -> None:
    assert CORS_ALLOW_HEADERS == [
        "Content-Type",
        "Authorization",
        "Idempotency-Key",
        "X-Invoice-ID",
        "X-Wallet-Mode",
        "X-Provider-Preference",
    ]
    assert CORS_EXPOSE_HEADERS == ["X-Request-ID", "X-Wallet-ID", "X-Countdown-Seconds", "X-Provider-Used"]


def test_body_validation_only_on_json_body_posts(template: dict[str, Any]) -> None:
    validators = resources_of_type(template, "AWS::ApiGateway::RequestValidator")
    assert len(validators) == 1
    validator_id, validator = next(iter(validators.items()))
    assert validator["Properties"]["ValidateRequestBody"] is True
    model_id, model = next(iter(resources_of_type(template, "AWS::ApiGateway::Model").items()))
    assert model["Properties"]["Schema"]["type"] == "object"
    for route, props in methods(template).items():
        if route in JSON_BODY:
            assert props["RequestValidatorId"] == {"Ref": validator_id}
            assert props["RequestModels"] == {"application/json": {"Ref": model_id}}
        else:
            assert "RequestValidatorId" not in props, route


EXPECTED_RESPONSES = {
    "UNAUTHORIZED": ("401", "unauthorized"),
    "ACCESS_DENIED": ("403", "forbidden"),
    "BAD_REQUEST_BODY": ("400", "validation_error"),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "THROTTLED": ("429", "rate_limited"),
    "DEFAULT_4XX": (None, "validation_error"),
    "DEFAULT_5XX": (None, "internal_error"),
}


def test_gateway_responses_render_the_envelope(template: dict[str, Any]) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in resources_of_type(template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == set(EXPECTED_RESPONSES)
    for response_type, (status, code) in EXPECTED_RESPONSES.items():
        props = responses[response_type]
        assert props.get("StatusCode") == status
        body = props["ResponseTemplates"]["application/json"].replace(
            "$context.error.messageString", '"Unauthorized"'
        )
        assert json.loads(body) == {"success": False, "error": "Unauthorized", "code": code, "details": []}
        headers = props["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "method.request.header.Origin"
        assert "gatewayresponse.header.Access-Control-Expose-Headers" in headers
        assert headers["gatewayresponse.header.X-Request-ID"] == "method.request.header.X-Request-ID"


def test_stage_tracing_and_access_logs(template: dict[str, Any]) -> None:
    stages = list(resources_of_type(template, "AWS::ApiGateway::Stage").values())
    assert len(stages) == 1
    props = stages[0]["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    log_group = props["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]
