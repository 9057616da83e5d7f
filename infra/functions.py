"""The domain layer and one Lambda function per folder of functions/, with least-privilege grants."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.bundling import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, PROJECT_ROOT, function_code, layer_code

FUNCTIONS_DIR = PROJECT_ROOT / "functions"
METRICS_NAMESPACE = "MonayWallets"
HANDLER = "handler.lambda_handler"
# Context flag (default off): SnapStart on the REST API functions, which API Gateway then invokes through the
# alias below. Ignored with `wallets:local`: the local runtime does not emulate SnapStart (docs/DESIGN.md).
SNAP_START_CONTEXT = "wallets:snapStart"
LIVE_ALIAS = "live"


class TableAccess(Enum):
    NONE = "none"
    READ = "read"
    READ_WRITE = "read_write"


@dataclass(frozen=True)
class FunctionSpec:
    """What one function may touch. Every grant and environment variable is derived from this row."""

    table: TableAccess = TableAccess.READ_WRITE
    memory_mb: int = 256
    timeout_s: int = 15
    # Envelope encryption of wallet keys with the stack key (beyond the table's own transparent use of it).
    wallet_keys: bool = False
    app_secret: bool = False
    scheduler: bool = False
    rest_api: bool = True
    payment_links: bool = False
    publishes_events: bool = False
    websocket_push: bool = False
    verifies_tokens: bool = False
    # Calls the stablecoin providers: their base URLs come from context, their API keys from AppSecret.
    stablecoins: bool = False


# One row per folder in functions/ (docs/DESIGN.md). API Gateway gives an integration 29 s at most, so REST
# handlers stay below it; the stream, schedule and batch consumers get longer.
FUNCTION_SPECS: dict[str, FunctionSpec] = {
    "authorizer": FunctionSpec(
        table=TableAccess.NONE, timeout_s=5, rest_api=False, app_secret=True, verifies_tokens=True
    ),
    "health": FunctionSpec(table=TableAccess.READ, timeout_s=10),
    "invoices": FunctionSpec(timeout_s=28, memory_mb=512, app_secret=True, payment_links=True),
    "create_wallet": FunctionSpec(
        memory_mb=512, wallet_keys=True, app_secret=True, scheduler=True, payment_links=True
    ),
    # Wallet reads, apart from wallet making: no KMS, no Scheduler, read-only on the table (the card's
    # remaining limit comes from Stripe Issuing, hence the AppSecret).
    "wallets": FunctionSpec(table=TableAccess.READ, app_secret=True),
    "fund": FunctionSpec(timeout_s=28, app_secret=True, stablecoins=True),
    # Destruction erases keys by deleting the wrapped data key (no KMS call), so neither function holds the
    # key's decrypt grant.
    "pay": FunctionSpec(timeout_s=28, app_secret=True, scheduler=True, payment_links=True, stablecoins=True),
    "destroy": FunctionSpec(timeout_s=120, rest_api=False, app_secret=True, scheduler=True, stablecoins=True),
    "reconcile": FunctionSpec(timeout_s=28, memory_mb=512, app_secret=True, stablecoins=True),
    "providers": FunctionSpec(timeout_s=28, app_secret=True, stablecoins=True),
    "consumer": FunctionSpec(
        timeout_s=28, memory_mb=512, wallet_keys=True, app_secret=True, stablecoins=True
    ),
    # Starts Stripe Identity sessions (the Stripe key) and records them; no wallet keys, no providers.
    "consumer_kyc": FunctionSpec(timeout_s=28, app_secret=True),
    "webhooks": FunctionSpec(timeout_s=28, app_secret=True, stablecoins=True),
    "realtime": FunctionSpec(timeout_s=30, rest_api=False, websocket_push=True),
    "stream": FunctionSpec(table=TableAccess.NONE, timeout_s=60, rest_api=False, publishes_events=True),
}


# Provider API base URLs by context key. Tempo has no default: without `wallets:tempoApiBase` the function
# treats Tempo as absent (never healthy) instead of calling a guessed address.
PROVIDER_ENDPOINTS = {
    "TEMPO_API_BASE": ("wallets:tempoApiBase", ""),
    "CIRCLE_API_BASE": ("wallets:circleApiBase", "https://api.circle.com"),
}


def construct_id(folder: str) -> str:
    """The CDK id of a function: the folder name (POWERTOOLS_SERVICE_NAME is the folder name too)."""
    return folder


class Functions(Construct):
    """The `DomainLayer` LayerVersion and one Python 3.13 arm64 function per entry of FUNCTION_SPECS."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        app_secret: secretsmanager.ISecret,
        cors_origins: list[str],
        log_level: str = "INFO",
        snap_start: bool = False,
    ) -> None:
        super().__init__(scope, construct_id_)
        missing = {p.name for p in FUNCTIONS_DIR.iterdir() if (p / "handler.py").is_file()} - set(
            FUNCTION_SPECS
        )
        if missing:
            raise ValueError(f"functions without a FunctionSpec row: {sorted(missing)}")
        self.specs = FUNCTION_SPECS
        self.layer = lambda_.LayerVersion(
            self,
            "DomainLayer",
            code=layer_code(Stack.of(self).bundling_required),
            compatible_runtimes=[LAMBDA_RUNTIME],
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            description="Domain package `shared` and the pinned requirements/layer.txt",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.functions: dict[str, lambda_.Function] = {}
        self.api_targets: dict[str, lambda_.IFunction] = {}
        for folder, spec in FUNCTION_SPECS.items():
            function = self._function(folder, spec, log_level, snap_start=snap_start and spec.rest_api)
            self._grant_data(function, spec, table=table, key=key, app_secret=app_secret)
            if spec.rest_api:
                function.add_environment("CORS_ORIGINS", ",".join(cors_origins))
            if spec.stablecoins:
                for variable, (context_key, default) in PROVIDER_ENDPOINTS.items():
                    value = self.node.try_get_context(context_key)
                    function.add_environment(variable, str(value if value is not None else default))
            self.functions[folder] = function
            if spec.rest_api:
                self.api_targets[folder] = self._live_alias(folder, function) if snap_start else function

    def __getitem__(self, folder: str) -> lambda_.Function:
        return self.functions[folder]

    def api_target(self, folder: str) -> lambda_.IFunction:
        """What API Gateway invokes for a REST function: the function, or its `live` alias with SnapStart."""
        return self.api_targets[folder]

    def with_spec(self, predicate: str) -> list[lambda_.Function]:
        """Functions whose FunctionSpec flag `predicate` is set, in table order."""
        return [self.functions[f] for f, spec in self.specs.items() if getattr(spec, predicate)]

    def _function(
        self, folder: str, spec: FunctionSpec, log_level: str, *, snap_start: bool
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id(folder)}Logs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self,
            construct_id(folder),
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            handler=HANDLER,
            code=function_code(FUNCTIONS_DIR / folder),
            layers=[self.layer],
            memory_size=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            log_group=log_group,
            description=f"Monay Wallets: {folder}",
            environment={
                "POWERTOOLS_SERVICE_NAME": folder,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "LOG_LEVEL": log_level,
            },
        )

    def _live_alias(self, folder: str, function: lambda_.Function) -> lambda_.Alias:
        """SnapStart restores snapshots of published versions only ($LATEST would start cold as before):
        publish a version whenever the function or its layer changes and point the `live` alias at it."""
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish", "current_version publishes, the alias invokes it"
        )
        return lambda_.Alias(
            self, f"{construct_id(folder)}Live", alias_name=LIVE_ALIAS, version=function.current_version
        )

    @staticmethod
    def _grant_data(
        function: lambda_.Function,
        spec: FunctionSpec,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        app_secret: secretsmanager.ISecret,
    ) -> None:
        if spec.table is not TableAccess.NONE:
            function.add_environment("TABLE_NAME", table.table_name)
            if spec.table is TableAccess.READ:
                table.grant_read_data(function)
            else:
                table.grant_read_write_data(function)
        if spec.wallet_keys:
            function.add_environment("KMS_KEY_ID", key.key_id)
            # Wrap new data keys and unwrap them to sign; never kms:Encrypt of arbitrary data or key admin.
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt"],
                    resources=[key.key_arn],
                )
            )
        if spec.app_secret:
            function.add_environment("APP_SECRET_ARN", app_secret.secret_arn)
            app_secret.grant_read(function)
