"""Room in every stack: CloudFormation refuses a template of more than 500 resources or 200 parameters, so
the route tree and the alarms live in nested stacks, and each stack must stay clear of those limits in both
deploy configurations (SnapStart adds a version and an alias a REST function)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import infra.api
from infra.stack import MonayWalletsStack
from tests.infra.conftest import SKIP_BUNDLING
from tests.support.template import STACK_TEMPLATE, resources_of_type, stack_templates

# Well under CloudFormation's 500: a capability adding functions and routes gets this failure, not a
# failed deploy. Parameters: a nested stack gets one for each root value it uses (200 at most).
RESOURCE_CEILING = 450
PARAMETER_CEILING = 150
NESTED = ("ApiRoutes", "MonitoringAlarms")


@pytest.fixture(params=["deploy_outdir", "snap_outdir"])
def templates(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    outdir: Path = request.getfixturevalue(request.param)
    return stack_templates(outdir)


def test_each_stack_stays_under_the_ceilings(templates: dict[str, dict[str, Any]]) -> None:
    names = sorted(templates)
    assert STACK_TEMPLATE in names
    nested = [name for name in names if name.endswith(".nested.template.json")]
    assert [any(name.startswith(f"MonayWallets{part}") for name in nested) for part in NESTED] == [True, True]
    sizes = {name: len(t["Resources"]) for name, t in templates.items()}
    assert max(sizes.values()) <= RESOURCE_CEILING, sizes
    parameters = {name: len(t.get("Parameters", {})) for name, t in templates.items()}
    assert max(parameters.values()) <= PARAMETER_CEILING, parameters


def test_routes_and_alarms_leave_the_root_stack(templates: dict[str, dict[str, Any]]) -> None:
    root = templates[STACK_TEMPLATE]
    # The root resource's CORS preflight belongs to the RestApi itself; every route is nested.
    methods = resources_of_type(root, "AWS::ApiGateway::Method")
    assert [m["Properties"]["HttpMethod"] for m in methods.values()] == ["OPTIONS"]
    assert resources_of_type(root, "AWS::ApiGateway::Resource") == {}
    assert resources_of_type(root, "AWS::CloudWatch::Alarm") == {}
    # The topic operators subscribe to stays in the root stack, under its logical id of before the split.
    assert list(resources_of_type(root, "AWS::SNS::Topic")) == ["MonitoringAlarmTopicAF62D4F1"]
    nested = {name: t for name, t in templates.items() if name.startswith(f"MonayWallets{NESTED[0]}")}
    (routes,) = nested.values()
    route_methods = resources_of_type(routes, "AWS::ApiGateway::Method").values()
    assert len([m for m in route_methods if m["Properties"]["HttpMethod"] != "OPTIONS"]) == len(
        infra.api.ROUTES
    )


def _deployment(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (deployment,) = resources_of_type(template, "AWS::ApiGateway::Deployment").items()
    return deployment


def test_the_stage_deploys_every_route_change(deploy_outdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The methods are nested, but a change to any of them still makes a new deployment of the stage
    (CDK hashes each method of the RestApi into the deployment's logical id), made after the routes."""
    root = json.loads((deploy_outdir / STACK_TEMPLATE).read_text())
    deployment_id, deployment = _deployment(root)
    (routes_stack,) = [
        lid for lid in resources_of_type(root, "AWS::CloudFormation::Stack") if lid.startswith("ApiRoutes")
    ]
    assert routes_stack in deployment["DependsOn"]
    # One method's body validation off: a change inside the nested stack only.
    index = next(i for i, route in enumerate(infra.api.ROUTES) if route.json_body)
    changed = list(infra.api.ROUTES)
    changed[index] = replace(changed[index], json_body=False)
    monkeypatch.setattr(infra.api, "ROUTES", tuple(changed))
    other = Template.from_stack(MonayWalletsStack(cdk.App(context=SKIP_BUNDLING))).to_json()
    assert _deployment(other)[0] != deployment_id
