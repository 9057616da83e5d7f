"""The WebSocket API: connect with a token, subscribe to channels, receive pushed events."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.functions import Functions

WS_STAGE_NAME = "prod"
WS_API_LOGICAL_ID = "WsApi"
ROUTE_SELECTION = "$request.body.action"
# Client messages answered on the same connection (two-way routes).
MESSAGE_ROUTES = ("subscribe", "unsubscribe", "ping")
# The identity source of the $connect authorizer: where the token is, not a token.
TOKEN_SOURCE = "route.request.querystring.token"  # noqa: S105


class Realtime(Construct):
    """`WsApi` routed by `action`; `$connect` authorized by the `authorizer` function (REQUEST type)."""

    def __init__(self, scope: Construct, construct_id: str, *, functions: Functions) -> None:
        super().__init__(scope, construct_id)
        realtime = functions["realtime"]

        def integration(route: str) -> integrations.WebSocketLambdaIntegration:
            return integrations.WebSocketLambdaIntegration(f"{route.strip('$').title()}Integration", realtime)

        self.authorizer = authorizers.WebSocketLambdaAuthorizer(
            "ConnectAuthorizer", functions["authorizer"], identity_source=[TOKEN_SOURCE]
        )
        self.ws_api = apigwv2.WebSocketApi(
            self,
            "WsApi",
            description="Monay Wallets realtime: wallet, invoice, countdown and admin channels",
            route_selection_expression=ROUTE_SELECTION,
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integration("$connect"), authorizer=self.authorizer
            ),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=integration("$disconnect")),
            default_route_options=apigwv2.WebSocketRouteOptions(
                integration=integration("$default"), return_response=True
            ),
        )
        ws_api_resource = self.ws_api.node.default_child
        assert isinstance(ws_api_resource, apigwv2.CfnApi)
        # A stable logical id: WS_CALLBACK_URL and the local runtime refer to it.
        ws_api_resource.override_logical_id(WS_API_LOGICAL_ID)
        for route in MESSAGE_ROUTES:
            self.ws_api.add_route(route, integration=integration(route), return_response=True)

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.ws_api,
            stage_name=WS_STAGE_NAME,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=100, burst_limit=200),
        )
        stage_resource = self.stage.node.default_child
        assert isinstance(stage_resource, apigwv2.CfnStage)
        stage_resource.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn,
            format=(
                '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                '"requestTime":"$context.requestTime","routeKey":"$context.routeKey",'
                '"eventType":"$context.eventType","status":"$context.status",'
                '"connectionId":"$context.connectionId","error":"$context.error.message",'
                '"authorizerError":"$context.authorizer.error"}'
            ),
        )

        # Push to connections: ManageConnections on this API's stage only.
        self.ws_api.grant_manage_connections(realtime)
        realtime.add_environment("WS_CALLBACK_URL", self.callback_url)

    @property
    def callback_url(self) -> str:
        """The @connections endpoint from the Ref and the literal stage name (no Stage dependency)."""
        stack = Stack.of(self)
        return f"https://{self.ws_api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{WS_STAGE_NAME}"

    @property
    def url(self) -> str:
        stack = Stack.of(self)
        return f"wss://{self.ws_api.api_id}.execute-api.{stack.region}.{stack.url_suffix}/{WS_STAGE_NAME}"
