"""Context `wallets:snapStart`: SnapStart on the REST functions, API Gateway invoking their `live` alias."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

import app
import infra.functions
from infra.api import ROUTES
from infra.functions import FUNCTION_SPECS, LIVE_ALIAS, SNAP_START_CONTEXT
from infra.stack import MonayWalletsStack
from local.runtime.template import with_nested_stacks
from tests.infra.conftest import function_ids
from tests.support.template import STACK_TEMPLATE, resources_of_type

REST = sorted(folder for folder, spec in FUNCTION_SPECS.items() if spec.rest_api)
NOT_REST = sorted(set(FUNCTION_SPECS) - set(REST))
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


@pytest.fixture(scope="module")
def snap_template(snap_outdir: Path) -> dict[str, Any]:
    """The root template with its nested stacks (the routes, the alarms) merged in."""
    return with_nested_stacks(json.loads((snap_outdir / STACK_TEMPLATE).read_text()), snap_outdir)


def aliases_by_function(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Function logical id -> (alias logical id, alias properties)."""
    return {
        alias["Properties"]["FunctionName"]["Ref"]: (lid, alias["Properties"])
        for lid, alias in resources_of_type(template, "AWS::Lambda::Alias").items()
    }


def integration_targets(template: dict[str, Any]) -> list[dict[str, Any]]:
    """What each REST method's Lambda proxy integration invokes (the ARN inside its `Uri`)."""
    targets = []
    for method in resources_of_type(template, "AWS::ApiGateway::Method").values():
        integration = method["Properties"]["Integration"]
        if integration["Type"] == "AWS_PROXY":
            parts = integration["Uri"]["Fn::Join"][1]
            assert parts[4] == ":lambda:path/2015-03-31/functions/" and parts[6] == "/invocations", parts
            targets.append(parts[5])
    assert len(targets) == len(ROUTES)
    return targets


def rest_api_permissions(template: dict[str, Any]) -> list[dict[str, Any]]:
    permissions = resources_of_type(template, "AWS::Lambda::Permission").values()
    return [
        p["Properties"]
        for p in permissions
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and '{"Ref": "RestApi"}' in json.dumps(p["Properties"].get("SourceArn"))
    ]


def test_rest_functions_snap_start_on_published_versions(snap_template: dict[str, Any]) -> None:
    ids = function_ids(snap_template)
    functions = snap_template["Resources"]
    assert {f: functions[ids[f]]["Properties"].get("SnapStart") for f in REST} == {
        f: {"ApplyOn": "PublishedVersions"} for f in REST
    }
    assert {f: functions[ids[f]]["Properties"].get("SnapStart") for f in NOT_REST} == dict.fromkeys(NOT_REST)


def test_each_rest_function_has_a_live_alias_on_its_published_version(snap_template: dict[str, Any]) -> None:
    ids = function_ids(snap_template)
    aliases = aliases_by_function(snap_template)
    assert sorted(aliases) == sorted(ids[f] for f in REST)
    versions = resources_of_type(snap_template, "AWS::Lambda::Version")
    for function_id, (_, alias) in aliases.items():
        assert alias["Name"] == LIVE_ALIAS
        version_id, attribute = alias["FunctionVersion"]["Fn::GetAtt"]
        assert attribute == "Version"
        assert versions[version_id]["Properties"]["FunctionName"] == {"Ref": function_id}


def test_every_api_method_invokes_an_alias(snap_template: dict[str, Any]) -> None:
    aliases = {lid for lid, _ in aliases_by_function(snap_template).values()}
    targets = integration_targets(snap_template)
    assert all(target.keys() == {"Ref"} and target["Ref"] in aliases for target in targets), targets
    assert {target["Ref"] for target in targets} == aliases


def test_api_gateway_may_invoke_the_aliases_only(snap_template: dict[str, Any]) -> None:
    aliases = {lid for lid, _ in aliases_by_function(snap_template).values()}
    ids = function_ids(snap_template)
    permissions = rest_api_permissions(snap_template)
    # One per function behind the API, scoped to the API (infra/api.py), plus the TOKEN authorizer's.
    assert len(permissions) == len({route.function for route in ROUTES}) + 1
    for permission in permissions:
        name = permission["FunctionName"]
        if "Ref" in name:
            assert name["Ref"] in aliases
        else:
            assert name == {"Fn::GetAtt": [ids["authorizer"], "Arn"]}


def test_cfn_lint_and_cdk_nag_pass_with_snap_start(snap_outdir: Path) -> None:
    paths = sorted(snap_outdir.glob("*.template.json"))
    assert STACK_TEMPLATE in {path.name for path in paths} and len(paths) > 1
    for path in paths:
        found = [
            m
            for m in lint(path.read_text(), config=ManualArgs(regions=["us-east-1"]))
            if m.rule.id[0] in "EW"
        ]
        assert [f"{path.name} {m.rule.id} {m.message}" for m in found] == []
    reports = json.loads((snap_outdir / "validation-report.json").read_text())["pluginReports"]
    assert [(r["conclusion"], r["violations"]) for r in reports if r["pluginName"] == "AwsSolutions"] == [
        ("success", [])
    ]


def test_a_layer_change_publishes_new_versions(
    snap_template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All of `shared/` lives in the layer: a layer-only change must move the aliases to new versions."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text('"""Another domain."""\n')
    monkeypatch.setattr(
        infra.functions, "layer_code", lambda _bundled: lambda_.Code.from_asset(str(tmp_path))
    )
    other_app = cdk.App(context={**SKIP_BUNDLING, SNAP_START_CONTEXT: "true"})
    other = Template.from_stack(MonayWalletsStack(other_app)).to_json()
    before = set(resources_of_type(snap_template, "AWS::Lambda::Version"))
    after = set(resources_of_type(other, "AWS::Lambda::Version"))
    assert len(after) == len(before) == len(REST)
    assert before.isdisjoint(after)


def test_flag_off_no_snap_start_and_methods_invoke_the_functions(template: dict[str, Any]) -> None:
    ids = function_ids(template)
    for function in resources_of_type(template, "AWS::Lambda::Function").values():
        assert "SnapStart" not in function["Properties"]
    assert resources_of_type(template, "AWS::Lambda::Alias") == {}
    assert resources_of_type(template, "AWS::Lambda::Version") == {}
    rest_ids = {ids[f] for f in REST}
    targets = integration_targets(template)
    assert all(t.keys() == {"Fn::GetAtt"} and t["Fn::GetAtt"][1] == "Arn" for t in targets), targets
    assert {t["Fn::GetAtt"][0] for t in targets} == rest_ids
    for permission in rest_api_permissions(template):
        assert permission["FunctionName"]["Fn::GetAtt"][0] in rest_ids | {ids["authorizer"]}


def test_local_mode_ignores_the_flag() -> None:
    """The local runtime does not emulate SnapStart and invokes functions, not aliases."""
    local_app = cdk.App(context={**SKIP_BUNDLING, "wallets:local": "true", SNAP_START_CONTEXT: "true"})
    local = Template.from_stack(MonayWalletsStack(local_app))
    local.resource_count_is("AWS::Lambda::Alias", 0)
    assert all(
        "SnapStart" not in f["Properties"] for f in local.find_resources("AWS::Lambda::Function").values()
    )


def test_the_flag_is_off_in_cdk_json_and_turned_on_with_dash_c() -> None:
    assert json.loads(app.CDK_JSON.read_text())["context"][SNAP_START_CONTEXT] is False
    assert app.context_from([])[SNAP_START_CONTEXT] is False
    assert app.context_from(["-c", f"{SNAP_START_CONTEXT}=true"])[SNAP_START_CONTEXT] == "true"
