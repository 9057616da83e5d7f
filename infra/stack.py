"""The `MonayWallets` stack: composes data, security, functions, APIs, events and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.data import Data
from infra.edge import API_KEYS_CONTEXT, WAF_CONTEXT, Edge, tenants_from
from infra.events import Events
from infra.functions import SNAP_START_CONTEXT, Functions
from infra.monitoring import Monitoring
from infra.realtime import Realtime
from infra.security import Security

STACK_NAME = "MonayWallets"
# With SnapStart, a layer-only change (all of `shared/`) must publish new versions too: without this flag
# CDK's version hash sees the layer's unchanged Ref and the `live` alias would keep the previous code.
RECOGNIZE_LAYER_VERSION = "@aws-cdk/aws-lambda:recognizeLayerVersion"
DEFAULT_CORS_ORIGINS = [
    "http://localhost:3000",
    "http://localhost:3002",
    "http://localhost:3003",
    "http://localhost:3007",
]


def cors_origins_from(value: Any) -> list[str]:
    """Context `wallets:corsOrigins`: a list, or a comma-separated string from `-c` on the command line."""
    if value is None:
        return list(DEFAULT_CORS_ORIGINS)
    items = value.split(",") if isinstance(value, str) else list(value)
    origins = [str(item).strip() for item in items if str(item).strip()]
    if not origins:
        raise ValueError("context wallets:corsOrigins names no origin")
    return origins


def is_true(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes"}


class MonayWalletsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = STACK_NAME, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.node.set_context(RECOGNIZE_LAYER_VERSION, True)
        # CDK adds an explicit DependsOn on each function's role beside the GetAtt that already orders them.
        self.template_options.metadata = {"cfn-lint": {"config": {"ignore_checks": ["W3005"]}}}
        local = is_true(self.node.try_get_context("wallets:local"))
        cors_origins = cors_origins_from(self.node.try_get_context("wallets:corsOrigins"))
        snap_start = is_true(self.node.try_get_context(SNAP_START_CONTEXT)) and not local

        self.security = security = Security(self, "Security")
        self.data = data = Data(self, "Data", key=security.key)
        self.functions = functions = Functions(
            self,
            "Functions",
            table=data.table,
            key_table=data.key_table,
            security=security,
            cors_origins=cors_origins,
            log_level="DEBUG" if local else "INFO",
            snap_start=snap_start,
        )
        self.api = api = Api(self, "Api", functions=functions, cors_origins=cors_origins)
        self.edge = Edge(
            self,
            "Edge",
            rest_api=api.rest_api,
            api_key_tenants=tenants_from(self.node.try_get_context(API_KEYS_CONTEXT)),
            waf=is_true(self.node.try_get_context(WAF_CONTEXT)),
        )
        self.realtime = realtime = Realtime(self, "Realtime", functions=functions)
        self.events = events = Events(self, "Events", functions=functions, table=data.table, key=security.key)

        for function in functions.with_spec("payment_links"):
            function.add_environment("PUBLIC_BASE_URL", api.url)

        authorizer = functions["authorizer"]
        if local:
            authorizer.add_environment("JWT_SECRET_ARN", security.jwt_secret.secret_arn)
            security.jwt_secret.grant_read(authorizer)
        else:
            authorizer.add_environment("JWT_ISSUER", security.jwt_issuer)
            authorizer.add_environment("JWT_JWKS_URL", security.jwt_jwks_url)
            authorizer.add_environment("JWT_AUDIENCE", security.jwt_audience)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            key=security.key,
            functions=functions.functions,
            queues=events.dead_letter_queues,
        )

        CfnOutput(self, "RestApiUrl", value=api.url, description="REST API stage URL")
        CfnOutput(self, "WebSocketUrl", value=realtime.url, description="WebSocket API stage URL")
        CfnOutput(self, "TableName", value=data.table.table_name)
        CfnOutput(self, "EventBusName", value=events.bus.event_bus_name)
        CfnOutput(self, "UserPoolId", value=security.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=security.user_pool_client.user_pool_client_id)
