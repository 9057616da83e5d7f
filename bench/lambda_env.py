"""Each function's environment as deployed: its Environment.Variables from the synthesized template (intrinsic
functions replaced by plausible physical values) plus the variables Lambda itself sets in the sandbox."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "MonayWallets"
RUNTIME = "python3.13"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::Partition": "aws",
    "AWS::StackName": STACK,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/{uuid.UUID(int=0)}",
    "AWS::NoValue": "",
}
# Physical values to use instead of the placeholders, by logical id and then "Ref" or a GetAtt attribute
# (e.g. the table, secrets and key created in moto).
Physical = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class FunctionEnvironment:
    folder: str
    logical_id: str
    memory_mb: int
    handler: str
    variables: dict[str, str]


def function_environments(
    template: Mapping[str, Any], physical: Physical | None = None
) -> dict[str, FunctionEnvironment]:
    """Every AWS::Lambda::Function of the template whose POWERTOOLS_SERVICE_NAME names a functions/ folder,
    by that folder, with its Environment.Variables resolved to strings."""
    found: dict[str, FunctionEnvironment] = {}
    for lid, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        properties = resource.get("Properties", {})
        raw = (properties.get("Environment") or {}).get("Variables") or {}
        variables = {name: resolve(value, template, physical) for name, value in raw.items()}
        folder = variables.get("POWERTOOLS_SERVICE_NAME")
        if not folder:
            continue  # CDK's own helper functions (custom resources) have none
        found[folder] = FunctionEnvironment(
            folder=folder,
            logical_id=lid,
            memory_mb=int(properties.get("MemorySize", 128)),
            handler=str(properties.get("Handler", "handler.lambda_handler")),
            variables=variables,
        )
    return found


def lambda_sandbox_variables(function: FunctionEnvironment) -> dict[str, str]:
    """What the Lambda service sets in the execution environment (python3.13, arm64), fake credentials
    included; `_X_AMZN_TRACE_ID` is per invocation and left out of init."""
    name = function_name(function.logical_id)
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "_HANDLER": function.handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "fake-secret-access-key-for-the-bench",
        "AWS_SESSION_TOKEN": "fake-session-token-for-the-bench",
    }


def function_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}-{_digest(logical_id, 12).upper()}"


def resolve(value: Any, template: Mapping[str, Any], physical: Physical | None = None) -> str:
    """A CloudFormation value as a string: literals kept, Ref / Fn::GetAtt / Fn::Join / Fn::Sub /
    Fn::Select replaced by a plausible physical value (an ARN, a table name, a key id ...)."""
    physical = physical or {}
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return _ref(str(argument), template, physical)
        if function == "Fn::GetAtt":
            lid, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return _get_att(str(lid), str(attribute), template, physical)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(resolve(part, template, physical) for part in parts)
        if function == "Fn::Sub":
            return _sub(argument, template, physical)
        if function == "Fn::Select":
            index, items = argument
            return resolve(items[int(resolve(index, template, physical))], template, physical)
    raise ValueError(f"cannot resolve {value!r}")


def _resource(template: Mapping[str, Any], lid: str) -> Mapping[str, Any]:
    resource = template.get("Resources", {}).get(lid)
    if resource is None:
        raise ValueError(f"Ref to an unknown resource {lid!r}")
    return dict(resource)


def _ref(lid: str, template: Mapping[str, Any], physical: Physical) -> str:
    if lid in PSEUDO:
        return PSEUDO[lid]
    if "Ref" in physical.get(lid, {}):
        return physical[lid]["Ref"]
    if lid in template.get("Parameters", {}):
        return str(template["Parameters"][lid].get("Default", lid))
    resource = _resource(template, lid)
    kind, props = resource["Type"], resource.get("Properties", {})
    name = _literal_name(props) or lid
    refs = {
        "AWS::KMS::Key": str(uuid.UUID(_digest(lid, 32))),
        "AWS::SecretsManager::Secret": _arn("secretsmanager", f"secret:{name}-{_digest(lid, 6)}"),
        "AWS::SQS::Queue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}",
        "AWS::SNS::Topic": _arn("sns", name),
        "AWS::Lambda::Function": function_name(lid),
        "AWS::ApiGateway::RestApi": _digest(lid, 10),
        "AWS::ApiGatewayV2::Api": _digest(lid, 10),
    }
    return refs.get(kind, name)


def _get_att(lid: str, attribute: str, template: Mapping[str, Any], physical: Physical) -> str:
    if attribute in physical.get(lid, {}):
        return physical[lid][attribute]
    resource = _resource(template, lid)
    kind = resource["Type"]
    ref = _ref(lid, template, physical)
    if attribute != "Arn":
        if attribute in ("Name", "QueueName", "TopicName"):
            return _literal_name(resource.get("Properties", {})) or lid
        if attribute == "StreamArn":
            return _arn("dynamodb", f"table/{ref}/stream/2026-12-01T00:00:00.000")
        return f"{ref}.{attribute}"
    arns = {
        "AWS::Lambda::Function": _arn("lambda", f"function:{ref}"),
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{lid}",
        "AWS::SQS::Queue": _arn("sqs", ref.rsplit("/", 1)[-1]),
        "AWS::DynamoDB::Table": _arn("dynamodb", f"table/{ref}"),
        "AWS::Events::EventBus": _arn("events", f"event-bus/{ref}"),
        "AWS::KMS::Key": _arn("kms", f"key/{ref}"),
        "AWS::SecretsManager::Secret": ref,
        "AWS::SNS::Topic": ref,
        "AWS::Scheduler::ScheduleGroup": _arn("scheduler", f"schedule-group/{ref}"),
    }
    service = kind.split("::")[1].lower()
    return arns.get(kind, _arn(service, f"{lid}"))


def _sub(argument: Any, template: Mapping[str, Any], physical: Physical) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else argument

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return resolve(variables[name], template, physical)
        if "." in name:
            lid, attribute = name.split(".", 1)
            return _get_att(lid, attribute, template, physical)
        return _ref(name, template, physical)

    return re.sub(r"\$\{([^}!]+)\}", replace, str(text))


def _literal_name(props: Mapping[str, Any]) -> str | None:
    for key in ("TableName", "Name", "QueueName", "TopicName", "FunctionName", "RoleName"):
        value = props.get(key)
        if isinstance(value, str):
            return value
    return None


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]
