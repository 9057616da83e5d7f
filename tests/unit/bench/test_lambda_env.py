"""Function environments as deployed, read from a template: intrinsics replaced, literals kept."""

from __future__ import annotations

from typing import Any

from bench.lambda_env import function_environments, lambda_sandbox_variables, resolve

TEMPLATE: dict[str, Any] = {
    "Resources": {
        "WalletsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        "AppSecret1A2B": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "Key99": {"Type": "AWS::KMS::Key", "Properties": {}},
        "Role1": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Bus1": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "MonayWallets-bus"}},
        "RestApi": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Fninvoices1": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Handler": "handler.lambda_handler",
                "MemorySize": 512,
                "Environment": {
                    "Variables": {
                        "POWERTOOLS_SERVICE_NAME": "invoices",
                        "LOG_LEVEL": "INFO",
                        "TABLE_NAME": {"Ref": "WalletsTable"},
                        "APP_SECRET_ARN": {"Ref": "AppSecret1A2B"},
                        "KMS_KEY_ID": {"Ref": "Key99"},
                        "ROLE_ARN": {"Fn::GetAtt": ["Role1", "Arn"]},
                        "EVENT_BUS_NAME": {"Ref": "Bus1"},
                        "PUBLIC_BASE_URL": {
                            "Fn::Join": [
                                "",
                                [
                                    "https://",
                                    {"Ref": "RestApi"},
                                    ".execute-api.",
                                    {"Ref": "AWS::Region"},
                                    "/v1",
                                ],
                            ]
                        },
                    }
                },
            },
        },
        "CustomResourceHelper": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "index.handler"}},
    }
}


def test_literals_are_kept_and_intrinsics_become_plausible_values() -> None:
    env = function_environments(TEMPLATE)
    assert set(env) == {"invoices"}
    invoices = env["invoices"]
    assert (invoices.logical_id, invoices.memory_mb) == ("Fninvoices1", 512)
    variables = invoices.variables
    assert variables["LOG_LEVEL"] == "INFO"
    assert variables["TABLE_NAME"] == "WalletsTable"
    assert variables["APP_SECRET_ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
    assert len(variables["KMS_KEY_ID"]) == 36 and variables["KMS_KEY_ID"].count("-") == 4
    assert variables["ROLE_ARN"].startswith("arn:aws:iam::123456789012:role/")
    assert variables["EVENT_BUS_NAME"] == "MonayWallets-bus"
    assert variables["PUBLIC_BASE_URL"].startswith("https://")
    assert variables["PUBLIC_BASE_URL"].endswith(".execute-api.us-east-1/v1")
    assert all(isinstance(value, str) for value in variables.values())


def test_physical_values_replace_placeholders() -> None:
    physical = {"AppSecret1A2B": {"Ref": "arn:moto:secret"}, "Role1": {"Arn": "arn:moto:role"}}
    variables = function_environments(TEMPLATE, physical)["invoices"].variables
    assert variables["APP_SECRET_ARN"] == "arn:moto:secret"
    assert variables["ROLE_ARN"] == "arn:moto:role"


def test_sub_and_select() -> None:
    assert resolve({"Fn::Sub": "${AWS::Region}/${WalletsTable}/${Role1.Arn}"}, TEMPLATE).startswith(
        "us-east-1/WalletsTable/arn:aws:iam::"
    )
    assert resolve({"Fn::Select": [1, ["a", {"Ref": "WalletsTable"}]]}, TEMPLATE) == "WalletsTable"


def test_sandbox_variables_are_lambdas() -> None:
    invoices = function_environments(TEMPLATE)["invoices"]
    sandbox = lambda_sandbox_variables(invoices)
    assert sandbox["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert sandbox["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert sandbox["_HANDLER"] == "handler.lambda_handler"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(sandbox)
    assert "POWERTOOLS_TRACE_DISABLED" not in sandbox
