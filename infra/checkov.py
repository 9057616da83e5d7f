"""checkov beside cdk-nag: every log group encrypted with the stack key, and the reasoned skips of the
checks this design answers otherwise (checkov reads `Metadata.checkov.skip` on each resource)."""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import IConstruct

FUNCTION_SKIPS = {
    "CKV_AWS_116": "API functions are invoked synchronously (the caller gets the error); the asynchronous "
    "and stream invocations have DLQs on their rule targets and on-failure queues on their event source "
    "mappings (infra/events.py).",
    "CKV_AWS_117": "No resource of this stack lives in a VPC: DynamoDB, KMS, Secrets Manager, EventBridge, "
    "Stripe and the providers are reached over their endpoints; a VPC would add NAT cost and cold-start "
    "latency with nothing inside it to reach.",
    "CKV_AWS_173": "Environment variables hold names, ARNs, URLs and log levels only; secrets are read "
    "from Secrets Manager (one secret per reader) at run time, and Lambda encrypts the variables at rest.",
}
UNRESERVED_SKIP = (
    "CKV_AWS_115",
    "Left in the account's unreserved pool on purpose: it calls no payment or stablecoin provider, and a cap "
    "would only throttle reads, token checks or event fan-out (RESERVED_CONCURRENCY, infra/functions.py).",
)
PUBLIC_METHOD_SKIP = (
    "CKV_AWS_59",
    "Public by contract: GET /health, the countdown, GET /public/pay/{token} (HMAC-signed link) and "
    "POST /webhooks/stripe (Stripe signature); the function checks what stands in for the authorizer.",
)
PREFLIGHT_SKIP = (
    "CKV_AWS_59",
    "CORS preflight: a MOCK integration answering the allowed origins and headers.",
)
STAGE_CACHE_SKIP = (
    "CKV_AWS_120",
    "Answers are per caller and mostly money state: a cache would serve one tenant's answer or a stale "
    "balance to another request.",
)


def _skip(resource: CfnResource, checks: list[tuple[str, str]]) -> None:
    resource.add_metadata("checkov", {"skip": [{"id": check, "comment": why} for check, why in checks]})


@jsii.implements(IAspect)
class _EncryptLogGroups:
    """Every log group of the stack, including the ones added later, encrypted with the stack key."""

    def __init__(self, key: kms.IKey) -> None:
        self.key = key

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.kms_key_id is None:
            node.kms_key_id = self.key.key_arn


def apply_checkov_findings(stack: Stack, key: kms.IKey) -> None:
    # CloudWatch Logs uses the key as the service, only for this account's log groups.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsToUseKeyForLogGroups",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{stack.partition}:logs:{stack.region}:"
                    f"{stack.account}:log-group:*"
                }
            },
        )
    )
    Aspects.of(stack).add(_EncryptLogGroups(key))
    for node in stack.node.find_all():
        if isinstance(node, lambda_.CfnFunction):
            checks = list(FUNCTION_SKIPS.items())
            if node.reserved_concurrent_executions is None:
                checks.append(UNRESERVED_SKIP)
            _skip(node, checks)
        elif (
            isinstance(node, apigw.CfnMethod)
            and node.authorization_type == "NONE"
            and node.http_method != "OPTIONS"
        ):
            _skip(node, [PUBLIC_METHOD_SKIP])
        elif isinstance(node, apigw.CfnStage):
            _skip(node, [STAGE_CACHE_SKIP])
