"""The REST API: every contract route as a Lambda proxy method, the TOKEN authorizer, CORS and errors."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration, NestedStack, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.functions import Functions

STAGE_NAME = "prod"
# How long API Gateway reuses the authorizer's answer for one Authorization header. A TOKEN authorizer
# cannot set a TTL per answer, so a cached answer could outlive its token's `exp` by up to this much; the
# context therefore carries `exp` and every function refuses an expired one (shared.auth
# principal_from_event): the cache saves authorizer calls, it never extends a token. Kept short anyway so
# that a signing key rotated out of the JWKS stops authorizing within a minute.
AUTHORIZER_CACHE_SECONDS = 60
REST_API_LOGICAL_ID = "RestApi"

CORS_ALLOW_HEADERS = [
    "Content-Type",
    "Authorization",
    "Idempotency-Key",
    "X-Invoice-ID",
    "X-Wallet-Mode",
    "X-Provider-Preference",
]
CORS_EXPOSE_HEADERS = ["X-Request-ID", "X-Wallet-ID", "X-Countdown-Seconds", "X-Provider-Used"]
CORS_ALLOW_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    public: bool = False
    # Only methods whose body is a required JSON object: API Gateway would reject an empty optional body.
    json_body: bool = False


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health", public=True),
    Route("POST", "/api/v1/invoices", "invoices", json_body=True),
    Route("GET", "/api/v1/invoices", "invoices"),
    Route("POST", "/api/v1/invoices/bulk", "invoice_batches", json_body=True),
    Route("GET", "/api/v1/invoices/{id}", "invoices"),
    Route("DELETE", "/api/v1/invoices/{id}", "invoices"),
    Route("POST", "/api/v1/invoices/{id}/send", "invoices"),
    Route("POST", "/api/v1/invoices/{id}/void", "invoices"),
    Route("POST", "/api/v1/invoices/create-wallet", "create_wallet", json_body=True),
    Route("POST", "/api/v1/wallets/ephemeral/create", "create_wallet", json_body=True),
    Route("POST", "/api/v2/invoice-wallets/create-from-invoice", "create_wallet", json_body=True),
    Route("GET", "/api/v2/invoice-wallets/{walletId}", "wallets"),
    Route("GET", "/api/v2/invoice-wallets/{walletId}/status", "wallets"),
    Route("GET", "/api/v2/invoice-wallets/{walletId}/countdown", "wallets", public=True),
    Route("POST", "/api/v2/invoice-wallets/{walletId}/transform", "create_wallet"),
    Route("GET", "/api/v2/invoice-wallets/by-invoice/{invoiceId}", "wallets"),
    Route("GET", "/api/v2/invoice-wallets/stats", "wallets"),
    Route("GET", "/api/v2/invoice-wallets/active", "wallets"),
    Route("POST", "/api/v2/invoice-wallets/{walletId}/fund", "fund", json_body=True),
    Route("POST", "/api/v2/invoice-wallets/{walletId}/refund", "fund"),
    Route("POST", "/api/v2/invoice-wallets/{walletId}/pay-invoice", "pay"),
    Route("GET", "/public/pay/{token}", "pay", public=True),
    Route("POST", "/api/v2/reserve/reconcile", "reconcile"),
    Route("GET", "/api/v2/reserve/reconciliations", "reconcile"),
    Route("GET", "/api/v1/providers/health", "providers"),
    Route("GET", "/api/v2/provider-health/status", "providers"),
    Route("GET", "/api/v2/provider-health/history", "providers"),
    Route("ANY", "/api/consumer/{proxy+}", "consumer"),
    Route("POST", "/api/consumer/upgrade-kyc", "consumer_kyc", json_body=True),
    Route("POST", "/api/consumer/batch-transfer", "consumer_transfers", json_body=True),
    Route("GET", "/api/consumer/batch-transfer/{id}", "consumer_transfers"),
    Route("POST", "/api/consumer/batch-transfer/{id}/retry-failed", "consumer_transfers"),
    Route("POST", "/api/consumer/swap/quote", "consumer_swaps", json_body=True),
    Route("POST", "/api/consumer/swap", "consumer_swaps", json_body=True),
    Route("POST", "/api/consumer/requests", "consumer_requests", json_body=True),
    Route("POST", "/api/consumer/requests/{id}/accept", "consumer_requests"),
    Route("POST", "/api/consumer/requests/{id}/decline", "consumer_requests"),
    Route("POST", "/api/consumer/deposit", "consumer_money", json_body=True),
    Route("POST", "/api/consumer/withdraw", "consumer_money", json_body=True),
    Route("POST", "/api/consumer/transfer", "consumer_money", json_body=True),
    Route("GET", "/api/v1/events", "events"),
    Route("GET", "/api/v1/events/{id}", "events"),
    Route("POST", "/api/v1/webhook-endpoints", "webhook_endpoints", json_body=True),
    Route("GET", "/api/v1/webhook-endpoints", "webhook_endpoints"),
    Route("GET", "/api/v1/webhook-endpoints/{id}", "webhook_endpoints"),
    Route("PATCH", "/api/v1/webhook-endpoints/{id}", "webhook_endpoints"),
    Route("DELETE", "/api/v1/webhook-endpoints/{id}", "webhook_endpoints"),
    Route("POST", "/api/v1/webhook-endpoints/{id}/rotate-secret", "webhook_endpoints"),
    Route("GET", "/api/v1/webhook-endpoints/{id}/deliveries", "webhook_delivery"),
    Route("POST", "/api/v1/webhook-endpoints/{id}/redeliver", "webhook_delivery", json_body=True),
    Route("POST", "/api/v1/webhook-deliveries/{id}/redeliver", "webhook_delivery"),
    # A CSV or JSON body, read by the function itself (no JSON-object model in front of it).
    Route("POST", "/api/v1/invoice-imports", "invoice_batches"),
    Route("GET", "/api/v1/invoice-imports/{id}", "invoice_batches"),
    Route("GET", "/api/v1/audit", "audit_views"),
    Route("GET", "/api/v2/destruction-logs", "audit_views"),
    Route("GET", "/api/v2/destruction-logs/{walletId}", "audit_views"),
    Route("GET", "/api/v1/treasury", "payouts"),
    Route("POST", "/api/v1/treasury/deposit", "payouts", json_body=True),
    Route("POST", "/api/v1/payouts", "payouts", json_body=True),
    # One proxy for a payout's reads and decisions (its GET, approve, reject, cancel, retry-failed): six
    # resources with their CORS preflights fewer, where the stack is near CloudFormation's 500.
    Route("ANY", "/api/v1/payouts/{proxy+}", "payouts"),
    # A payroll claim link: its page to anyone holding it; the claim to the consumer it names (authorized).
    Route("GET", "/public/claim/{token}", "payouts", public=True),
    Route("POST", "/public/claim/{token}", "payouts"),
    # Stripe signs the raw bytes: no authorizer and no body model in front of the signature check.
    Route("POST", "/webhooks/stripe", "webhooks", public=True),
)

# (response type, status, machine code) rendered in the contract's error envelope.
GATEWAY_RESPONSES: tuple[tuple[str, apigw.ResponseType, str, str], ...] = (
    ("Unauthorized", apigw.ResponseType.UNAUTHORIZED, "401", "unauthorized"),
    ("AccessDenied", apigw.ResponseType.ACCESS_DENIED, "403", "forbidden"),
    ("BadRequestBody", apigw.ResponseType.BAD_REQUEST_BODY, "400", "validation_error"),
    # An unknown path or method: API Gateway says 403 "Missing Authentication Token"; the contract says 404.
    ("MissingRoute", apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found"),
    ("Throttled", apigw.ResponseType.THROTTLED, "429", "rate_limited"),
    # The rest of the 4xx family is malformed input (size, media type, parameters).
    ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, "", "validation_error"),
    ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, "", "internal_error"),
)


def envelope_template(code: str) -> str:
    """VTL of the error envelope; `messageString` is already a quoted JSON string."""
    return f'{{"success":false,"error":$context.error.messageString,"code":{json.dumps(code)},"details":[]}}'


def quoted(value: str) -> str:
    return f"'{value}'"


class Api(Construct):
    """`RestApi` with stage `prod`, a TOKEN authorizer on every non-public method and enveloped errors."""

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: Functions, cors_origins: list[str]
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            description="Monay Wallets REST API",
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=cors_origins,
                allow_headers=CORS_ALLOW_HEADERS,
                expose_headers=CORS_EXPOSE_HEADERS,
                allow_methods=CORS_ALLOW_METHODS,
                max_age=Duration.hours(1),
            ),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=200,
                throttling_burst_limit=400,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        rest_api_resource = self.rest_api.node.default_child
        assert isinstance(rest_api_resource, apigw.CfnRestApi)
        # A stable logical id: the functions' PUBLIC_BASE_URL and the local runtime refer to it.
        rest_api_resource.override_logical_id(REST_API_LOGICAL_ID)
        # The stack declares its own `RestApiUrl` output; CDK's default one would name the Stage resource.
        self.rest_api.node.try_remove_child("Endpoint")

        self.authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=functions["authorizer"],
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        self.body_validator = self.rest_api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.object_model = self.rest_api.add_model(
            "JsonObject",
            content_type="application/json",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        self._add_gateway_responses(cors_origins)
        # The route tree (resources, methods, CORS preflights: three resources or more a route) lives in a
        # nested stack, the rest of the API here: the root stack stays clear of CloudFormation's 500.
        # Methods still belong to `rest_api`, so its deployment is re-hashed and ordered after them.
        self.routes = NestedStack(self, "Routes", description="Monay Wallets REST API routes")
        self._top_level: dict[str, apigw.Resource] = {}
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for route in ROUTES:
            self.methods[(route.method, route.path)] = self._add_route(route, functions)

    @property
    def url(self) -> str:
        """Stage URL built from the Ref and the literal stage name: no dependency on the Stage resource."""
        stack = Stack.of(self)
        return (
            f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}/{STAGE_NAME}"
        )

    def _resource_for(self, path: str) -> apigw.IResource:
        """The path's resource, its first segment created in the routes stack (the rest nest under it)."""
        first, _, rest = path.strip("/").partition("/")
        top = self._top_level.get(first)
        if top is None:
            top = apigw.Resource(self.routes, first, parent=self.rest_api.root, path_part=first)
            self._top_level[first] = top
        return top.resource_for_path(rest) if rest else top

    def _add_route(self, route: Route, functions: Functions) -> apigw.Method:
        resource = self._resource_for(route.path)
        # One invoke permission per function scoped to this API, not two per method (stage + test-invoke):
        # with ~120 routes the per-method permissions alone passed CloudFormation's 500-resource limit.
        # Each method still integrates only its own function, so the wider source ARN grants nothing new.
        integration = apigw.LambdaIntegration(
            functions.api_target(route.function), proxy=True, scope_permission_to_method=False
        )
        if route.public:
            return resource.add_method(
                route.method, integration, authorization_type=apigw.AuthorizationType.NONE
            )
        return resource.add_method(
            route.method,
            integration,
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.CUSTOM,
            request_validator=self.body_validator if route.json_body else None,
            request_models={"application/json": self.object_model} if route.json_body else None,
        )

    def _add_gateway_responses(self, cors_origins: list[str]) -> None:
        # A gateway response cannot pick one origin out of a list; with several origins it echoes the
        # caller's. Preflight still admits only the configured origins, so no other origin can send the
        # Authorization header or a JSON body: what it could read is this error envelope alone.
        allow_origin = quoted(cors_origins[0]) if len(cors_origins) == 1 else "method.request.header.Origin"
        headers = {
            "Access-Control-Allow-Origin": allow_origin,
            "Access-Control-Allow-Headers": quoted(",".join(CORS_ALLOW_HEADERS)),
            "Access-Control-Expose-Headers": quoted(",".join(CORS_EXPOSE_HEADERS)),
            "Vary": quoted("Origin"),
            # A gateway response can map request headers and static values only (not $context), so it
            # echoes the caller's request id; API Gateway adds its own x-amzn-RequestId beside it.
            "X-Request-ID": "method.request.header.X-Request-ID",
        }
        for construct_id, response_type, status, code in GATEWAY_RESPONSES:
            extra = {"Retry-After": quoted("1")} if construct_id == "Throttled" else {}
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                status_code=status or None,
                response_headers={**headers, **extra},
                templates={"application/json": envelope_template(code)},
            )
