"""Deploy mode (no `wallets:local`): Cognito settings for the authorizer; a single configured CORS origin."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.stack import MonayWalletsStack

ORIGIN = "https://wallet.example.com"


@pytest.fixture(scope="module")
def deploy_template() -> Template:
    app = cdk.App(context={"aws:cdk:bundling-stacks": [], "wallets:corsOrigins": ORIGIN})
    return Template.from_stack(MonayWalletsStack(app))


def authorizer_env(template: Template) -> dict[str, Any]:
    functions = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "authorizer"}}}},
    )
    assert len(functions) == 1
    return dict(next(iter(functions.values()))["Properties"]["Environment"]["Variables"])


def test_authorizer_verifies_cognito_tokens(deploy_template: Template) -> None:
    env = authorizer_env(deploy_template)
    assert "JWT_SECRET_ARN" not in env
    issuer = json.dumps(env["JWT_ISSUER"])
    assert "https://cognito-idp." in issuer
    assert "SecurityUserPool" in issuer
    assert json.dumps(env["JWT_JWKS_URL"]).endswith('/.well-known/jwks.json"]]}')
    assert env["JWT_AUDIENCE"]["Ref"].startswith("SecurityUserPoolAppClient")


def test_user_pool_groups_and_tenant_attribute(deploy_template: Template) -> None:
    groups = deploy_template.find_resources("AWS::Cognito::UserPoolGroup")
    names = sorted(g["Properties"]["GroupName"] for g in groups.values())
    assert names == ["admin", "consumer", "merchant", "operator"]
    deploy_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "Schema": Match.array_with([Match.object_like({"Name": "tenant_id", "Mutable": False})]),
            "MfaConfiguration": "ON",
        },
    )


def test_single_origin_is_literal_everywhere(deploy_template: Template) -> None:
    for response in deploy_template.find_resources("AWS::ApiGateway::GatewayResponse").values():
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{ORIGIN}'"
    functions = deploy_template.find_resources("AWS::Lambda::Function")
    origins = {
        f["Properties"]["Environment"]["Variables"].get("CORS_ORIGINS") for f in functions.values()
    } - {None}
    assert origins == {ORIGIN}


def test_app_secret_template(deploy_template: Template) -> None:
    secrets = deploy_template.find_resources("AWS::SecretsManager::Secret")
    generators = [s["Properties"]["GenerateSecretString"] for s in secrets.values()]
    app_secret = next(g for g in generators if "GenerateStringKey" in g)
    assert app_secret["GenerateStringKey"] == "payment_link_secret"
    assert json.loads(app_secret["SecretStringTemplate"]) == {
        "stripe_secret_key": "",
        "stripe_webhook_secret": "",
        "tempo_api_key": "",
        "circle_api_key": "",
    }


def test_snap_start_is_off_by_default(deploy_template: Template) -> None:
    deploy_template.resource_count_is("AWS::Lambda::Alias", 0)
    deploy_template.resource_count_is("AWS::Lambda::Version", 0)
    for function in deploy_template.find_resources("AWS::Lambda::Function").values():
        assert "SnapStart" not in function["Properties"]
