"""Intrinsic functions, physical names and ARN lookups of the runtime's template model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.runtime.template import Template, TemplateError, with_nested_stacks


def template(resources: dict[str, Any], **extra: Any) -> Template:
    return Template({"Resources": resources, **extra}, stack_name="Stk")


FN = {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "h.f"}}


def test_pseudo_parameters_join_sub_select_split() -> None:
    tpl = template(
        {
            "Fn": FN,
            "Other": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}]]},
                    "Value": {"Fn::Sub": "${AWS::URLSuffix}/${Fn}/${Fn.Arn}/${!Literal}"},
                    "Description": {"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]},
                    "Tier": {"Fn::Sub": ["${X}-${AWS::Partition}", {"X": {"Ref": "AWS::StackName"}}]},
                },
            },
        }
    )
    props = tpl.resources["Other"]["Properties"]
    assert props["Name"] == "us-east-1-123456789012"
    assert props["Value"] == (
        "amazonaws.com/Stk-Fn/arn:aws:lambda:us-east-1:123456789012:function:Stk-Fn/${Literal}"
    )
    assert props["Description"] == "b"
    assert props["Tier"] == "Stk-aws"


def test_conditions_if_and_novalue() -> None:
    tpl = template(
        {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": {"Fn::If": ["IsLocal", "local.h", "remote.h"]},
                    "Timeout": {"Fn::If": ["IsLocal", {"Ref": "AWS::NoValue"}, 9]},
                },
            },
            "Skipped": {"Type": "AWS::SQS::Queue", "Condition": "IsRemote", "Properties": {}},
        },
        Parameters={"Mode": {"Type": "String", "Default": "local"}},
        Conditions={
            "IsLocal": {"Fn::Equals": [{"Ref": "Mode"}, "local"]},
            "IsRemote": {"Fn::Not": [{"Condition": "IsLocal"}]},
        },
    )
    assert tpl.resources["Fn"]["Properties"] == {"Handler": "local.h"}
    assert "Skipped" not in tpl.resources


def test_names_from_properties_and_arn_lookup_with_qualifier() -> None:
    tpl = template(
        {
            "Named": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "explicit"}},
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "bus"}},
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        }
    )
    assert tpl.physical_id("Named") == "explicit"
    assert tpl.arn("Bus") == "arn:aws:events:us-east-1:123456789012:event-bus/bus"
    assert tpl.physical_id("Table") == "Stk-Table"
    assert tpl.logical_id_for("arn:aws:lambda:us-east-1:123456789012:function:explicit:live") == "Named"
    assert tpl.logical_id_for("Stk-Table") == "Table"
    assert tpl.logical_id_for("arn:aws:lambda:us-east-1:123456789012:function:nope") is None


def test_overrides_from_moto_are_used_after_resolve() -> None:
    tpl = template(
        {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Environment": {"Variables": {"K": {"Ref": "Key"}, "A": {"Fn::GetAtt": ["Key", "Arn"]}}}
                },
            },
        }
    )
    tpl.set_physical("Key", "1234-abcd", Arn="arn:aws:kms:us-east-1:123456789012:key/1234-abcd")
    tpl.resolve()
    assert tpl.resources["Fn"]["Properties"]["Environment"]["Variables"] == {
        "K": "1234-abcd",
        "A": "arn:aws:kms:us-east-1:123456789012:key/1234-abcd",
    }


def test_api_ids_are_stable_and_websocket_endpoint_uses_wss() -> None:
    resources = {"Ws": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET"}}}
    first, second = template(resources), template(resources)
    assert first.physical_id("Ws") == second.physical_id("Ws")
    assert (
        first.attribute("Ws", "ApiEndpoint")
        == f"wss://{first.physical_id('Ws')}.execute-api.us-east-1.amazonaws.com"
    )


def test_unsupported_intrinsic_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        template({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::ImportValue": "x"}}}})


def _nested_assembly(folder: Path, nested: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    (folder / "StkChild.nested.template.json").write_text(json.dumps(nested))
    return {
        "Resources": {
            "Fn": FN,
            "Child": {
                "Type": "AWS::CloudFormation::Stack",
                "Metadata": {"aws:asset:path": "StkChild.nested.template.json"},
                "Properties": {"TemplateURL": "s3://x", "Parameters": parameters},
            },
            "Uses": {
                "Type": "AWS::SSM::Parameter",
                "DependsOn": ["Child", "Fn"],
                "Properties": {"Name": "n", "Value": {"Fn::GetAtt": ["Child", "Outputs.QueueArn"]}},
            },
        }
    }


def test_nested_stacks_merge_into_one_template(tmp_path: Path) -> None:
    nested = {
        "Parameters": {"FnArn": {"Type": "String"}, "Level": {"Type": "String", "Default": "INFO"}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
            "Perm": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "FnArn"},
                    "SourceArn": {"Fn::Sub": "${FnArn}/${Level}/${Queue.Arn}"},
                },
            },
        },
        "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}}},
    }
    raw = _nested_assembly(tmp_path, nested, {"FnArn": {"Fn::GetAtt": ["Fn", "Arn"]}})
    (tmp_path / "Stk.template.json").write_text(json.dumps(raw))
    tpl = Template.load(tmp_path / "Stk.template.json")
    assert sorted(tpl.resources) == ["Fn", "Perm", "Queue", "Uses"]
    fn_arn = tpl.arn("Fn")
    perm = tpl.resources["Perm"]["Properties"]
    assert perm["FunctionName"] == fn_arn
    assert perm["SourceArn"] == f"{fn_arn}/INFO/{tpl.arn('Queue')}"
    assert tpl.resources["Uses"]["Properties"]["Value"] == tpl.arn("Queue")
    assert tpl.raw["Resources"]["Uses"]["DependsOn"] == ["Fn"]


def test_nested_stack_errors(tmp_path: Path) -> None:
    clash = {"Resources": {"Fn": FN}, "Outputs": {"QueueArn": {"Value": "x"}}}
    with pytest.raises(TemplateError, match="root and nested"):
        with_nested_stacks(_nested_assembly(tmp_path, clash, {}), tmp_path)
    unset = {"Parameters": {"FnArn": {"Type": "String"}}, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    with pytest.raises(TemplateError, match="parameter FnArn"):
        with_nested_stacks(_nested_assembly(tmp_path, unset, {}), tmp_path)
    no_output = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    with pytest.raises(TemplateError, match=r"no Outputs\.QueueArn"):
        with_nested_stacks(_nested_assembly(tmp_path, no_output, {}), tmp_path)
    raw = _nested_assembly(tmp_path, no_output, {})
    del raw["Resources"]["Child"]["Metadata"]
    with pytest.raises(TemplateError, match="asset metadata"):
        with_nested_stacks(raw, tmp_path)
