"""Tracing as deployed: Lambda's and API Gateway's active tracing, no X-Ray SDK nor Powertools Tracer."""

from __future__ import annotations

import re
from typing import Any

from infra.bundling import LAYER_REQUIREMENTS
from infra.nag import STACK_ACKNOWLEDGEMENTS
from tests.support.template import resources_of_type

# Variables only Powertools' Tracer (or the X-Ray SDK it wraps) reads: meaningless without them.
TRACER_ONLY_VARIABLES = re.compile(r"^(POWERTOOLS_TRACE|POWERTOOLS_TRACER_|AWS_XRAY_|_X_AMZN_TRACE)")


def test_every_function_traces_actively(template: dict[str, Any]) -> None:
    functions = resources_of_type(template, "AWS::Lambda::Function")
    assert functions
    assert {lid: f["Properties"].get("TracingConfig") for lid, f in functions.items()} == {
        lid: {"Mode": "Active"} for lid in functions
    }


def test_the_rest_stage_traces(template: dict[str, Any]) -> None:
    stages = resources_of_type(template, "AWS::ApiGateway::Stage")
    assert [s["Properties"]["TracingEnabled"] for s in stages.values()] == [True]


def test_no_function_sets_tracer_only_variables(template: dict[str, Any]) -> None:
    for lid, function in resources_of_type(template, "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert [v for v in variables if TRACER_ONLY_VARIABLES.match(v)] == [], lid


def test_the_layer_pins_no_xray_sdk() -> None:
    pins = [line.split("#")[0].strip().lower() for line in LAYER_REQUIREMENTS.read_text().splitlines()]
    pins = [pin for pin in pins if pin]
    assert any(pin.startswith("aws-lambda-powertools") for pin in pins)
    assert [pin for pin in pins if re.match(r"aws[-_]xray[-_]sdk", pin)] == []
    # Powertools' `tracer` extra is what would pull the SDK back in.
    assert [pin for pin in pins if pin.startswith("aws-lambda-powertools[") and "tracer" in pin] == []


def test_the_tracing_acknowledgement_names_lambdas_active_tracing_not_an_sdk() -> None:
    reason = STACK_ACKNOWLEDGEMENTS["AwsSolutions-IAM5[Resource::*]"]
    assert "active tracing" in reason
    assert "no X-Ray SDK" in reason
