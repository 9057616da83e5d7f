"""The local-mode template, synthesized once per session, and small lookups over it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.template import resources_of_type, synth_outdir, synthesized_template

TEST_OUTDIR = synth_outdir()


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return synthesized_template()


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
