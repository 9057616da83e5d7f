"""cdk-nag AwsSolutions checks, and the reasoned acknowledgements of the findings this design accepts."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.stack import MonayWalletsStack

MANAGED = "arn:<AWS::Partition>:iam::aws:policy/service-role"
REGIONAL = "<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>"

# Findings accepted for the whole stack, each with the reason it is accepted.
STACK_ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions-L1": "Python 3.13 on arm64 is the runtime this project pins (Amazon Linux 2023, supported "
    "to 2029, SnapStart-capable; every layer pin has a cp313 aarch64 wheel); moving to 3.14 is a deliberate, "
    "tested change, not a synth-time default.",
    f"AwsSolutions-IAM4[Policy::{MANAGED}/AWSLambdaBasicExecutionRole]": (
        "Grants only CreateLogGroup/CreateLogStream/PutLogEvents, which every function needs for its logs."
    ),
    f"AwsSolutions-IAM4[Policy::{MANAGED}/AmazonAPIGatewayPushToCloudWatchLogs]": (
        "API Gateway's account-level logging role: the managed policy is the one AWS documents for it."
    ),
    "AwsSolutions-COG4": "Methods are protected by the `authorizer` Lambda (TOKEN), which verifies Cognito "
    "RS256 tokens against this stack's user pool JWKS and also serves the WebSocket $connect; a Cognito "
    "authorizer could not serve the local HS256 mode nor the payment-link tokens.",
    "AwsSolutions-IAM5[Resource::*]": "Lambda's active tracing, which records each invocation's segment "
    "with the function's role (xray:PutTraceSegments/PutTelemetryRecords; the code holds no X-Ray SDK), and "
    "the stream mappings' dynamodb:ListStreams support no resource-level permissions.",
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Added by the DynamoDB/Secrets grants for the "
    "table's and secrets' own encryption key; the statement is scoped to that one key ARN.",
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Added by the DynamoDB read/write grant for the table's "
    "own encryption key; the statement is scoped to that one key ARN.",
    "AwsSolutions-IAM5[Resource::<WalletsTable.Arn>/index/*]": "Queries on the table's own GSIs (gsi1..3).",
    "AwsSolutions-SQS3": "These queues are the dead-letter and on-failure destinations themselves.",
}


def acknowledge(scope: IConstruct, rules: dict[str, str]) -> None:
    for rule, reason in rules.items():
        # cdk-nag v3 reports through CDK policy validation, whose ids carry the plugin name.
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def _token_free(stack: cdk.Stack, value: str) -> str:
    """A finding id names resources as cdk-nag prints them; resolve names CDK generated at synth."""
    resolved = stack.resolve(value)
    if not isinstance(resolved, str):
        raise TypeError(f"expected a literal, got {resolved!r}")
    return resolved


def apply_nag_checks(app: cdk.App, stack: MonayWalletsStack) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    acknowledge(stack, STACK_ACKNOWLEDGEMENTS)
    security, functions = stack.security, stack.functions
    acknowledge(
        security.jwt_secret,
        {
            "AwsSolutions-SMG4": "HS256 key of the local mode's tokens; deployed tokens come from Cognito. "
            "Rotating it would only invalidate every issued local token."
        },
    )
    acknowledge(
        security.stripe_secret,
        {
            "AwsSolutions-SMG4": "Holds Stripe keys issued by Stripe's dashboard (rotated there, then "
            "written here by operators)."
        },
    )
    acknowledge(
        security.providers_secret,
        {
            "AwsSolutions-SMG4": "Holds Tempo and Circle API keys issued by their dashboards (rotated there, "
            "then written here by operators)."
        },
    )
    acknowledge(
        security.payment_link_secret,
        {"AwsSolutions-SMG4": "The payment-link HMAC key: rotating it voids every open payment link."},
    )
    acknowledge(
        stack.data.key_table,
        {
            "AwsSolutions-DDB3": "No point-in-time recovery on purpose: removing a wrapped data key must "
            "be final at once (cryptographic erase); PITR would keep it restorable for 35 days."
        },
    )
    acknowledge(
        security.user_pool,
        {
            "AwsSolutions-COG8": "The Plus feature plan is a per-user cost decision for the operator; MFA "
            "(TOTP) is required and the password policy is strict without it."
        },
    )
    rest_api_acknowledgements = {
        "AwsSolutions-APIG3": "The stack's WAF web ACL is opt-in (-c wallets:waf=true) since WAF is "
        "billed per ACL and request; without it the stage and the usage plan throttle, every non-public "
        "method has an authorizer, and the contract's limits are counted exactly in the table.",
        "AwsSolutions-APIG4": "Public by contract: GET /health, the countdown, GET /public/pay/{token} "
        "(HMAC link) and POST /webhooks/stripe (Stripe signature).",
    }
    # The methods live in the API's nested routes stack, outside the RestApi construct's subtree.
    for rest_api_part in (stack.api.rest_api, stack.api.routes):
        acknowledge(rest_api_part, rest_api_acknowledgements)
    acknowledge(
        stack.realtime.ws_api,
        {
            "AwsSolutions-APIG4": "API Gateway authorizes a WebSocket once, at $connect (REQUEST "
            "authorizer); later routes run on the authorized connection."
        },
    )
    destroy = functions["destroy"].node.default_child
    webhook_delivery = functions["webhook_delivery"].node.default_child
    payout_worker = functions["payout_worker"].node.default_child
    assert isinstance(destroy, cdk.CfnElement) and isinstance(webhook_delivery, cdk.CfnElement)
    assert isinstance(payout_worker, cdk.CfnElement)
    acknowledge(
        stack.events.scheduler_role,
        {
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(destroy)}.Arn>:*]": "Invoke of the "
            "destroy function's own versions and aliases.",
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(webhook_delivery)}.Arn>:*]": "Invoke of "
            "the webhook_delivery function's own versions and aliases (webhook retry timers).",
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(payout_worker)}.Arn>:*]": "Invoke of "
            "the payout_worker function's own versions and aliases (scheduled payouts' timers).",
        },
    )
    execute_api = REGIONAL.format(service="execute-api")
    acknowledge(
        functions["realtime"],
        {
            f"AwsSolutions-IAM5[Resource::arn:{execute_api}:<WsApi>/*/*/@connections/*]": "Posting to and "
            "dropping any connection of this one WebSocket API.",
        },
    )
    group_name = _token_free(stack, stack.events.schedule_group.schedule_group_name)
    scheduler = REGIONAL.format(service="scheduler")
    for function in functions.with_spec("scheduler"):
        acknowledge(
            function,
            {
                f"AwsSolutions-IAM5[Resource::arn:{scheduler}:schedule/{group_name}/*]": "Per-wallet "
                "destruction and per-delivery webhook retry schedules, created at run time, only in this "
                "stack's schedule group.",
            },
        )
