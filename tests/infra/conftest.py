"""The local-mode template, synthesized once per session, and small lookups over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from app import ASSET_METADATA_CONTEXT
from infra.functions import SNAP_START_CONTEXT
from infra.nag import apply_nag_checks
from infra.stack import MonayWalletsStack
from tests.support.template import resources_of_type, synth_outdir, synthesized_template

TEST_OUTDIR = synth_outdir()
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return synthesized_template()


def deploy_synth(outdir: Path, **context: str) -> Path:
    """The deploy-mode stack synthesized into `outdir` as app.py does it (cdk-nag included), bundling
    skipped: the root template and its nested ones."""
    # Asset metadata, as app.py sets it: each nested stack names its template file (merged on reading).
    app = cdk.App(outdir=str(outdir), context={**SKIP_BUNDLING, ASSET_METADATA_CONTEXT: True, **context})
    apply_nag_checks(app, MonayWalletsStack(app))
    app.synth()  # raises on an unacknowledged cdk-nag finding
    return outdir


@pytest.fixture(scope="session")
def deploy_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default deploy configuration (cdk.json's context: SnapStart off)."""
    return deploy_synth(tmp_path_factory.mktemp("cdk.out.deploy"))


@pytest.fixture(scope="session")
def snap_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deploy configuration with `-c wallets:snapStart=true`."""
    return deploy_synth(tmp_path_factory.mktemp("cdk.out.snap"), **{SNAP_START_CONTEXT: "true"})


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template["Resources"])


def function_ids(template: dict[str, Any]) -> dict[str, str]:
    """Folder name (POWERTOOLS_SERVICE_NAME) -> logical id of its function."""
    return {
        r["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: lid
        for lid, r in resources_of_type(template, "AWS::Lambda::Function").items()
    }


def role_statements(template: dict[str, Any], function_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to a function's role."""
    role = template["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    return {action for s in statements for action in as_list(s["Action"])}


def validation_report() -> dict[str, Any]:
    return dict(json.loads((TEST_OUTDIR / "validation-report.json").read_text()))
