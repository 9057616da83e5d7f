"""Deploy mode (no `wallets:local`): Cognito settings for the authorizer; a single configured CORS origin."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.stack import MonayWalletsStack

ORIGIN = "https://wallet.example.com"
SECRET_NAMES = ("JwtSecret", "PaymentLinkSecret", "StripeSecret", "ProvidersSecret")


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


def test_secret_templates(deploy_template: Template) -> None:
    """Operators fill StripeSecret and ProvidersSecret (empty placeholders); the link key is generated."""
    secrets = {
        lid: s["Properties"]
        for lid, s in deploy_template.find_resources("AWS::SecretsManager::Secret").items()
    }
    by_name = {name: props for lid, props in secrets.items() for name in SECRET_NAMES if name in lid}
    assert sorted(by_name) == sorted(SECRET_NAMES)
    assert json.loads(by_name["StripeSecret"]["SecretString"]) == {
        "stripe_secret_key": "",
        "stripe_webhook_secret": "",
    }
    assert json.loads(by_name["ProvidersSecret"]["SecretString"]) == {
        "tempo_api_key": "",
        "circle_api_key": "",
    }
    for generated in ("PaymentLinkSecret", "JwtSecret"):
        assert by_name[generated]["GenerateSecretString"]["PasswordLength"] == 64
        assert "SecretString" not in by_name[generated]


def test_snap_start_is_off_by_default(deploy_template: Template) -> None:
    deploy_template.resource_count_is("AWS::Lambda::Alias", 0)
    deploy_template.resource_count_is("AWS::Lambda::Version", 0)
    for function in deploy_template.find_resources("AWS::Lambda::Function").values():
        assert "SnapStart" not in function["Properties"]
