"""Load a synthesized CloudFormation template, name its resources and resolve its intrinsic functions."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
URL_SUFFIX = "amazonaws.com"
PARTITION = "aws"
AZS = [f"{REGION}a", f"{REGION}b", f"{REGION}c"]

# CloudFormation's own name limits for generated physical names.
_NAME_LIMITS = {"AWS::Lambda::Function": 64, "AWS::IAM::Role": 64, "AWS::SQS::Queue": 80}
_SUB_VAR = re.compile(r"\$\{([^}]+)\}")


class TemplateError(Exception):
    """The template uses something the local runtime cannot resolve."""


def _short_id(seed: str, length: int = 10) -> str:
    # API ids look random in AWS; a hash of the logical id keeps them stable across restarts.
    digest = hashlib.sha256(seed.encode()).hexdigest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[int(digest[i * 2 : i * 2 + 2], 16) % 36] for i in range(length))


class Template:
    """A template whose resources carry resolved Properties, with physical ids and ARNs for each."""

    def __init__(self, raw: dict[str, Any], path: Path | None = None, stack_name: str | None = None) -> None:
        self.raw = raw
        self.path = path
        self.folder = path.parent if path else Path.cwd()
        self.stack_name = stack_name or (path.name.split(".")[0] if path else "Stack")
        self._overrides: dict[str, str] = {}
        self._attr_overrides: dict[tuple[str, str], Any] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.resolve()

    @classmethod
    def load(cls, path: Path) -> Template:
        return cls(with_nested_stacks(json.loads(path.read_text()), path.parent), path)

    # -- physical names ------------------------------------------------------------------------
    def set_physical(self, logical_id: str, physical_id: str, **attributes: Any) -> None:
        """Record what moto really created (ids it generates), then `resolve()` again."""
        self._overrides[logical_id] = physical_id
        for name, value in attributes.items():
            self._attr_overrides[(logical_id, name)] = value

    def _raw_resource(self, logical_id: str) -> dict[str, Any]:
        try:
            return self.raw["Resources"][logical_id]  # type: ignore[no-any-return]
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id}") from None

    def _generated_name(self, logical_id: str, type_name: str) -> str:
        limit = _NAME_LIMITS.get(type_name, 128)
        return f"{self.stack_name}-{logical_id}"[:limit]

    def physical_id(self, logical_id: str) -> str:
        """What `Ref` returns for the resource."""
        if logical_id in self._overrides:
            return self._overrides[logical_id]
        res = self._raw_resource(logical_id)
        type_name = res["Type"]
        props = res.get("Properties", {})
        name_prop = _NAME_PROPERTY.get(type_name)
        if type_name in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"):
            return _short_id(self.stack_name + logical_id)
        if type_name in ("AWS::ApiGateway::Resource", "AWS::ApiGatewayV2::Route"):
            return _short_id(logical_id, 6)
        if type_name in (
            "AWS::ApiGateway::Authorizer",
            "AWS::ApiGatewayV2::Authorizer",
            "AWS::ApiGatewayV2::Integration",
            "AWS::ApiGateway::RequestValidator",
        ):
            return _short_id(logical_id, 6)
        if type_name in ("AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"):
            return str(self._resolved_prop(props, "StageName", logical_id))
        if type_name in ("AWS::SNS::Topic", "AWS::Lambda::LayerVersion", "AWS::SecretsManager::Secret"):
            return self.arn(logical_id)
        if name_prop and name_prop in props:
            return str(self._resolved_prop(props, name_prop, logical_id))
        return self._generated_name(logical_id, type_name)

    def _resolved_prop(self, props: dict[str, Any], name: str, logical_id: str) -> Any:
        return self._resolve(props[name], logical_id)

    def _name(self, logical_id: str) -> str:
        res = self._raw_resource(logical_id)
        name_prop = _NAME_PROPERTY.get(res["Type"])
        props = res.get("Properties", {})
        if name_prop and name_prop in props:
            return str(self._resolved_prop(props, name_prop, logical_id))
        return self._generated_name(logical_id, res["Type"])

    def arn(self, logical_id: str) -> str:
        """What `Fn::GetAtt [id, Arn]` returns."""
        if (logical_id, "Arn") in self._attr_overrides:
            return str(self._attr_overrides[(logical_id, "Arn")])
        type_name = self._raw_resource(logical_id)["Type"]
        name = self._name(logical_id)
        prefix = f"arn:{PARTITION}"
        match type_name:
            case "AWS::Lambda::Function":
                return f"{prefix}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            case "AWS::Lambda::LayerVersion":
                return f"{prefix}:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"
            case "AWS::DynamoDB::Table":
                return f"{prefix}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            case "AWS::IAM::Role":
                return f"{prefix}:iam::{ACCOUNT_ID}:role/{name}"
            case "AWS::IAM::ManagedPolicy":
                return f"{prefix}:iam::{ACCOUNT_ID}:policy/{name}"
            case "AWS::Events::EventBus":
                return f"{prefix}:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"
            case "AWS::Events::Rule":
                return f"{prefix}:events:{REGION}:{ACCOUNT_ID}:rule/{name}"
            case "AWS::Scheduler::ScheduleGroup":
                return f"{prefix}:scheduler:{REGION}:{ACCOUNT_ID}:schedule-group/{name}"
            case "AWS::Scheduler::Schedule":
                return f"{prefix}:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{name}"
            case "AWS::SQS::Queue":
                return f"{prefix}:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            case "AWS::SNS::Topic":
                return f"{prefix}:sns:{REGION}:{ACCOUNT_ID}:{name}"
            case "AWS::SecretsManager::Secret":
                return f"{prefix}:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}"
            case "AWS::SSM::Parameter":
                return f"{prefix}:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}"
            case "AWS::KMS::Key":
                return f"{prefix}:kms:{REGION}:{ACCOUNT_ID}:key/{self.physical_id(logical_id)}"
            case "AWS::Logs::LogGroup":
                return f"{prefix}:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
            case "AWS::StepFunctions::StateMachine":
                return f"{prefix}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
            case "AWS::Cognito::UserPool":
                return f"{prefix}:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_{_short_id(name, 9)}"
        service = type_name.split("::")[1].lower()
        return f"{prefix}:{service}:{REGION}:{ACCOUNT_ID}:{name}"

    def attribute(self, logical_id: str, name: str) -> Any:
        """What `Fn::GetAtt [id, name]` returns."""
        if (logical_id, name) in self._attr_overrides:
            return self._attr_overrides[(logical_id, name)]
        res = self._raw_resource(logical_id)
        type_name = res["Type"]
        if name == "Arn":
            return self.arn(logical_id)
        ref = self.physical_id(logical_id)
        match (type_name, name):
            case ("AWS::ApiGateway::RestApi", "RootResourceId"):
                return _short_id(logical_id + "root", 10)
            case ("AWS::ApiGatewayV2::Api", "ApiEndpoint"):
                protocol = res.get("Properties", {}).get("ProtocolType", "HTTP")
                scheme = "wss" if protocol == "WEBSOCKET" else "https"
                return f"{scheme}://{ref}.execute-api.{REGION}.{URL_SUFFIX}"
            case ("AWS::ApiGatewayV2::Api", "ApiId"):
                return ref
            case ("AWS::DynamoDB::Table", "StreamArn"):
                return f"{self.arn(logical_id)}/stream/1970-01-01T00:00:00.000"
            case ("AWS::KMS::Key", "KeyId"):
                return ref
            case ("AWS::SQS::Queue", "QueueName"):
                return self._name(logical_id)
            case ("AWS::SQS::Queue", "QueueUrl"):
                return f"https://sqs.{REGION}.{URL_SUFFIX}/{ACCOUNT_ID}/{self._name(logical_id)}"
            case ("AWS::SNS::Topic", "TopicName"):
                return self._name(logical_id)
            case ("AWS::IAM::Role", "RoleId"):
                return "AROA" + _short_id(logical_id, 17).upper()
        if name in ("Name", f"{type_name.split('::')[-1]}Name"):
            return self._name(logical_id)
        if name.endswith("Id"):
            return ref
        return ref

    def logical_id_for(self, arn_or_name: str) -> str | None:
        """Logical id of the resource with this ARN, Ref value or name (Lambda ARNs may be qualified)."""
        value = arn_or_name
        if value.startswith("arn:") and ":function:" in value:
            value = ":".join(value.split(":")[:7])
        for lid in self.resources:
            try:
                if value in (self.physical_id(lid), self.arn(lid), self._name(lid)):
                    return lid
            except TemplateError:
                continue
        return None

    # -- intrinsic functions -------------------------------------------------------------------
    def resolve(self) -> None:
        """(Re)resolve every resource's Properties with the current physical names."""
        resolved: dict[str, dict[str, Any]] = {}
        for lid, res in self.raw.get("Resources", {}).items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            entry = {
                "Type": res["Type"],
                "Properties": self._resolve(copy.deepcopy(res.get("Properties", {})), lid),
                "Metadata": res.get("Metadata", {}),
            }
            resolved[lid] = entry
        self.resources = resolved

    def condition(self, name: str) -> bool:
        return bool(self._resolve(self.raw.get("Conditions", {})[name], name))

    def of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == type_name}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/x",
            "AWS::NoValue": _NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name in pseudo:
            return pseudo[name]
        params = self.raw.get("Parameters", {})
        if name in params:
            return params[name].get("Default", "")
        return self.physical_id(name)

    def _resolve(self, node: Any, where: str) -> Any:
        if isinstance(node, list):
            return [v for v in (self._resolve(i, where) for i in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg, where)
        out = {k: self._resolve(v, where) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _function(self, key: str, arg: Any, where: str) -> Any:
        match key:
            case "Fn::GetAtt":
                lid, name = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attribute(lid, self._resolve(name, where))
            case "Fn::Join":
                sep, items = arg
                return self._resolve(sep, where).join(str(i) for i in self._resolve(items, where))
            case "Fn::Select":
                index, items = self._resolve(arg, where)
                return items[int(index)]
            case "Fn::Split":
                sep, text = self._resolve(arg, where)
                return text.split(sep)
            case "Fn::Sub":
                return self._sub(arg, where)
            case "Fn::If":
                name, yes, no = arg
                return self._resolve(yes if self.condition(name) else no, where)
            case "Fn::Equals":
                left, right = self._resolve(arg, where)
                return left == right
            case "Fn::Not":
                return not self._resolve(arg[0], where)
            case "Fn::And":
                return all(self._resolve(arg, where))
            case "Fn::Or":
                return any(self._resolve(arg, where))
            case "Fn::Base64":
                return base64.b64encode(str(self._resolve(arg, where)).encode()).decode()
            case "Fn::GetAZs":
                return list(AZS)
            case "Fn::FindInMap":
                table, first, second = self._resolve(arg, where)
                return self.raw["Mappings"][table][first][second]
            case "Fn::ToJsonString":
                return json.dumps(self._resolve(arg, where), separators=(",", ":"))
        raise TemplateError(f"{where}: {key} is not supported locally")

    def _sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self._resolve(arg[1], where))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                lid, attr = name.split(".", 1)
                return str(self.attribute(lid, attr))
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, text)


NESTED_STACK = "AWS::CloudFormation::Stack"
# CDK's asset metadata on a nested stack resource: its template's file name in the cloud assembly.
ASSET_PATH = "aws:asset:path"


def with_nested_stacks(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The template with every nested stack CDK synthesized beside it (in `folder`) merged in, as one
    template: the nested resources join the root's, each nested parameter is replaced by the value the
    root passes it, and the root's `Fn::GetAtt [stack, Outputs.X]` by that output's value."""
    merged = copy.deepcopy(raw)
    resources: dict[str, Any] = merged.get("Resources", {})
    outputs: dict[str, dict[str, Any]] = {}
    for lid, res in list(resources.items()):
        if res["Type"] != NESTED_STACK:
            continue
        file_name = res.get("Metadata", {}).get(ASSET_PATH)
        if not file_name:
            raise TemplateError(f"{lid}: a nested stack without its template's asset metadata")
        nested = with_nested_stacks(json.loads((folder / file_name).read_text()), folder)
        values = res.get("Properties", {}).get("Parameters", {})
        declared = nested.get("Parameters", {})
        for name, spec in declared.items():
            if name not in values and "Default" not in spec:
                raise TemplateError(f"{lid}: no value for the nested stack's parameter {name}")
        nested = _with_parameters(
            nested, {name: values.get(name, declared[name].get("Default")) for name in declared}
        )
        del resources[lid]
        for section in ("Resources", "Conditions", "Mappings"):
            into = merged.setdefault(section, {})
            clash = set(into) & set(nested.get(section, {}))
            if clash:
                raise TemplateError(f"{lid}: {section} {sorted(clash)} are in the root and nested templates")
            into.update(nested.get(section, {}))
        outputs[lid] = {name: out["Value"] for name, out in nested.get("Outputs", {}).items()}
    if not outputs:
        return merged
    for res in resources.values():
        depends = res.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in outputs]
            res["DependsOn"] = kept
    return _with_outputs(merged, outputs)  # type: ignore[no-any-return]


def _with_parameters(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in template.items() if key != "Parameters"}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and isinstance(node.get("Ref"), str) and node["Ref"] in values:
            return copy.deepcopy(values[node["Ref"]])
        if len(node) == 1 and "Fn::Sub" in node:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            used = {name for name in _SUB_VAR.findall(text) if name in values and name not in variables}
            if used:
                variables = {**variables, **{name: values[name] for name in used}}
                return {"Fn::Sub": [text, walk(variables)]}
        return {key: walk(value) for key, value in node.items()}

    return walk(body)  # type: ignore[no-any-return]


def _with_outputs(node: Any, outputs: dict[str, dict[str, Any]]) -> Any:
    if isinstance(node, list):
        return [_with_outputs(item, outputs) for item in node]
    if not isinstance(node, dict):
        return node
    target = node.get("Fn::GetAtt") if len(node) == 1 else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if isinstance(target, list) and target[0] in outputs:
        attribute = str(target[1])
        if not attribute.startswith("Outputs.") or attribute[8:] not in outputs[target[0]]:
            raise TemplateError(f"{target[0]} has no {attribute}")
        return copy.deepcopy(outputs[target[0]][attribute[8:]])
    return {key: _with_outputs(value, outputs) for key, value in node.items()}


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()

_NAME_PROPERTY = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Cognito::UserPool": "UserPoolName",
}
