"""cfn-lint over the synthesized template, cdk-nag's verdict, stack outputs, circular dependencies."""

from __future__ import annotations

from typing import Any

from cfnlint.api import ManualArgs, lint

from tests.infra.conftest import TEST_OUTDIR, validation_report


def test_cfn_lint_reports_nothing(template: dict[str, Any]) -> None:
    paths = sorted(TEST_OUTDIR.glob("*.template.json"))
    assert len(paths) > 1  # the root template and its nested stacks' (the routes, the alarms)
    for path in paths:
        # Errors and warnings, as the `cfn-lint` command reports them by default (informational rules aside).
        found = [
            m
            for m in lint(path.read_text(), config=ManualArgs(regions=["us-east-1"]))
            if m.rule.id[0] in "EW"
        ]
        assert [f"{path.name} {m.rule.id} {m.message}" for m in found] == []


def test_cdk_nag_has_no_unacknowledged_finding(template: dict[str, Any]) -> None:
    reports = validation_report()["pluginReports"]
    nag = [r for r in reports if r["pluginName"] == "AwsSolutions"]
    assert len(nag) == 1
    assert nag[0]["conclusion"] == "success"
    assert nag[0]["violations"] == []
    for suppressed in nag[0]["suppressedViolations"]:
        assert len(suppressed["reason"]) > 20, suppressed["acknowledgedId"]


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"RestApiUrl", "WebSocketUrl", "TableName", "EventBusName", "UserPoolId"} <= set(outputs)
    assert outputs["TableName"]["Value"] == {"Ref": "WalletsTable"}
    assert outputs["WebSocketUrl"]["Value"]["Fn::Join"][1][:2] == ["wss://", {"Ref": "WsApi"}]
    assert outputs["RestApiUrl"]["Value"]["Fn::Join"][1][:2] == ["https://", {"Ref": "RestApi"}]
