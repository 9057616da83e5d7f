"""The domain layer and one Lambda function per folder of functions/, with least-privilege grants."""

from __future__ import annotations

import json
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
from infra.security import (
    WALLET_CONTEXT_KEY,
    WALLET_ID_PATTERN,
    WEBHOOK_CONTEXT_KEY,
    WEBHOOK_ENDPOINT_PATTERN,
    Security,
)

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


class WalletKeyAccess(Enum):
    """What a function does with wallet key material (`WalletKeysTable` and the wallet key)."""

    NONE = "none"
    # Seals a new wallet's private keys: a data key from the wallet key, the sealed item put with the wallet.
    MAKE = "make"
    # Cryptographic erase in the destruction's transaction: reads the sealed item, removes its wrapped key.
    ERASE = "erase"


class WebhookSecretAccess(Enum):
    """What a function does with webhook signing secrets (the webhook key, under an endpoint's context)."""

    NONE = "none"
    # Creates and rotates them (Encrypt), and answers them again on an idempotent replay (Decrypt).
    SEAL = "seal"
    # Signs deliveries with them: Decrypt only.
    OPEN = "open"


@dataclass(frozen=True)
class FunctionSpec:
    """What one function may touch. Every grant and environment variable is derived from this row."""

    table: TableAccess = TableAccess.READ_WRITE
    memory_mb: int = 256
    timeout_s: int = 15
    wallet_keys: WalletKeyAccess = WalletKeyAccess.NONE
    # Calls Stripe (payments, refunds, Issuing) or verifies its webhooks: reads StripeSecret.
    stripe: bool = False
    scheduler: bool = False
    rest_api: bool = True
    # Makes payment links: reads PaymentLinkSecret and knows the API's public URL.
    payment_links: bool = False
    publishes_events: bool = False
    websocket_push: bool = False
    # The authorizer: JWTs (JwtSecret in local mode, Cognito's JWKS deployed) and payment links
    # (PaymentLinkSecret).
    verifies_tokens: bool = False
    # Calls the stablecoin providers: their base URLs come from context, their API keys from ProvidersSecret.
    stablecoins: bool = False
    webhook_secrets: WebhookSecretAccess = WebhookSecretAccess.NONE


# One row per folder in functions/ (docs/DESIGN.md). API Gateway gives an integration 29 s at most, so REST
# handlers stay below it; the stream, schedule and batch consumers get longer. Nothing unwraps a wallet's data
# key (no function signs with wallet keys), so no function holds kms:Decrypt on the wallet key.
FUNCTION_SPECS: dict[str, FunctionSpec] = {
    "authorizer": FunctionSpec(table=TableAccess.NONE, timeout_s=5, rest_api=False, verifies_tokens=True),
    "health": FunctionSpec(table=TableAccess.READ, timeout_s=10),
    "invoices": FunctionSpec(timeout_s=28, memory_mb=512),
    "create_wallet": FunctionSpec(
        memory_mb=512, wallet_keys=WalletKeyAccess.MAKE, stripe=True, scheduler=True, payment_links=True
    ),
    # Wallet reads, apart from wallet making: no KMS, no Scheduler, read-only on the table (the card's
    # remaining limit comes from Stripe Issuing).
    "wallets": FunctionSpec(table=TableAccess.READ, stripe=True),
    "fund": FunctionSpec(timeout_s=28, stripe=True, stablecoins=True),
    # Paying an ephemeral wallet's invoice destroys it; destruction erases keys by removing the wrapped data
    # key (no KMS call).
    "pay": FunctionSpec(
        timeout_s=28,
        wallet_keys=WalletKeyAccess.ERASE,
        stripe=True,
        scheduler=True,
        payment_links=True,
        stablecoins=True,
    ),
    "destroy": FunctionSpec(
        timeout_s=120,
        rest_api=False,
        wallet_keys=WalletKeyAccess.ERASE,
        stripe=True,
        scheduler=True,
        stablecoins=True,
    ),
    "reconcile": FunctionSpec(timeout_s=28, memory_mb=512, stablecoins=True),
    "providers": FunctionSpec(timeout_s=28, stablecoins=True),
    # Onboarding makes the person's persistent wallet: real keys, sealed under the wallet key.
    "consumer": FunctionSpec(timeout_s=28, memory_mb=512, wallet_keys=WalletKeyAccess.MAKE),
    # Starts Stripe Identity sessions (the Stripe key) and records them; no wallet keys, no providers.
    "consumer_kyc": FunctionSpec(timeout_s=28, stripe=True),
    # Batch transfers and requests to pay, and swaps: the ledger and the stablecoin providers; no wallet
    # keys, no Stripe.
    "consumer_transfers": FunctionSpec(timeout_s=28, memory_mb=512, stablecoins=True),
    "consumer_swaps": FunctionSpec(timeout_s=28, stablecoins=True),
    # Requests to pay: invoices and internal transfers, all on the table.
    "consumer_requests": FunctionSpec(timeout_s=28),
    # Consumer deposits, withdrawals and transfers: Stripe (PaymentIntents, Connect) and the providers.
    "consumer_money": FunctionSpec(timeout_s=28, stripe=True, stablecoins=True),
    "webhooks": FunctionSpec(timeout_s=28, stripe=True, stablecoins=True),
    # The tenant's event history: reads its indexes, writes nothing.
    "events": FunctionSpec(table=TableAccess.READ, timeout_s=10),
    # Webhook endpoints: their items, the tenant's endpoint count and audit; resolves each URL's host.
    "webhook_endpoints": FunctionSpec(timeout_s=15, webhook_secrets=WebhookSecretAccess.SEAL),
    # Webhook fan-out (bus rule), attempts (its own Scheduler retry timers), delivery log and redelivery.
    "webhook_delivery": FunctionSpec(timeout_s=28, scheduler=True, webhook_secrets=WebhookSecretAccess.OPEN),
    "realtime": FunctionSpec(timeout_s=30, rest_api=False, websocket_push=True),
    "stream": FunctionSpec(table=TableAccess.NONE, timeout_s=60, rest_api=False, publishes_events=True),
    # Finishes claims past their deadline through funding and destruction: their grants, on a schedule.
    # Enterprise: bulk invoices and imports (the import itself runs in the background worker).
    "invoice_batches": FunctionSpec(timeout_s=28, memory_mb=1024),
    # The import worker: a batch of up to 32 invoices per message, in one transaction.
    "invoice_imports": FunctionSpec(timeout_s=60, memory_mb=512, rest_api=False),
    # Overdue (and recurring) invoices on a schedule, over the due-date index.
    "invoice_schedules": FunctionSpec(timeout_s=240, rest_api=False),
    # Treasury and payouts: the treasury's wallet (made on first use: real keys), its deposits (Stripe, the
    # providers) and payouts' creation and approval; processing runs in payout_worker.
    "payouts": FunctionSpec(
        timeout_s=28,
        memory_mb=512,
        wallet_keys=WalletKeyAccess.MAKE,
        stripe=True,
        scheduler=True,
        payment_links=True,
        stablecoins=True,
    ),
    # Runs approved payouts (bus rule on payout.* run events, or a scheduled payout's timer): the ledger and
    # the providers.
    "payout_worker": FunctionSpec(
        timeout_s=300,
        memory_mb=512,
        rest_api=False,
        wallet_keys=WalletKeyAccess.MAKE,
        scheduler=True,
        payment_links=True,
        stablecoins=True,
    ),
    # Admin reads of the audit trail and destruction logs.
    "audit_views": FunctionSpec(table=TableAccess.READ),
    "sweeper": FunctionSpec(
        timeout_s=240,
        rest_api=False,
        wallet_keys=WalletKeyAccess.ERASE,
        stripe=True,
        scheduler=True,
        stablecoins=True,
    ),
}


# Reserved concurrency of the functions that call Stripe, KMS or the stablecoin providers: a burst (or a
# retry storm) cannot take more than this many at once, so those services' rate limits are never the thing
# that fails, and money routes keep capacity the rest of the account cannot eat. The sum (131) leaves most
# of a default 1,000 account limit unreserved (Lambda needs 100 left); functions not listed share that pool.
# Context `wallets:reservedConcurrency`: "off" reserves none (accounts with a low limit), or a JSON object of
# per-function overrides such as {"fund": 50}.
RESERVED_CONCURRENCY_CONTEXT = "wallets:reservedConcurrency"
RESERVED_CONCURRENCY: dict[str, int] = {
    "create_wallet": 20,
    "wallets": 20,
    "fund": 20,
    "pay": 20,
    "consumer": 20,
    "destroy": 10,
    "webhooks": 10,
    "reconcile": 2,
    "providers": 2,
    "sweeper": 2,
    "consumer_kyc": 5,
    "consumer_transfers": 10,
    "consumer_swaps": 5,
    "consumer_money": 10,
}


def reserved_concurrency(value: object) -> dict[str, int]:
    """RESERVED_CONCURRENCY with the context's overrides applied ("off": none at all)."""
    if value is None:
        return dict(RESERVED_CONCURRENCY)
    if isinstance(value, str) and value.strip().lower() in {"off", "false", "0", "none"}:
        return {}
    overrides = json.loads(value) if isinstance(value, str) else value
    if not isinstance(overrides, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in overrides.values()
    ):
        raise ValueError(
            f"context {RESERVED_CONCURRENCY_CONTEXT} must be 'off' or {{function: positive int}}"
        )
    unknown = set(overrides) - set(FUNCTION_SPECS)
    if unknown:
        raise ValueError(f"context {RESERVED_CONCURRENCY_CONTEXT} names unknown functions: {sorted(unknown)}")
    return {**RESERVED_CONCURRENCY, **overrides}


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
        key_table: dynamodb.ITable,
        security: Security,
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
        self.reserved = reserved_concurrency(self.node.try_get_context(RESERVED_CONCURRENCY_CONTEXT))
        self.api_targets: dict[str, lambda_.IFunction] = {}
        for folder, spec in FUNCTION_SPECS.items():
            function = self._function(folder, spec, log_level, snap_start=snap_start and spec.rest_api)
            self._grant_data(function, spec, table=table)
            self._grant_wallet_keys(function, spec, key_table=key_table, wallet_key=security.wallet_key)
            self._grant_secrets(function, spec, security)
            self._grant_webhook_key(function, spec, security.webhook_key)
            if spec.rest_api:
                function.add_environment("CORS_ORIGINS", ",".join(cors_origins))
            if spec.stablecoins:
                for variable, (context_key, default) in PROVIDER_ENDPOINTS.items():
                    value = self.node.try_get_context(context_key)
                    function.add_environment(variable, str(value if value is not None else default))
            self.functions[folder] = function
            if spec.rest_api:
                self.api_targets[folder] = self._live_alias(folder, function) if snap_start else function
        makers = [f.role for f, spec in self._pairs() if spec.wallet_keys is WalletKeyAccess.MAKE and f.role]
        security.confine_wallet_key(makers)
        security.confine_webhook_key(
            [
                f.role
                for f, spec in self._pairs()
                if spec.webhook_secrets is not WebhookSecretAccess.NONE and f.role
            ]
        )

    def _pairs(self) -> list[tuple[lambda_.Function, FunctionSpec]]:
        return [(self.functions[folder], spec) for folder, spec in self.specs.items()]

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
            reserved_concurrent_executions=self.reserved.get(folder),
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
    def _grant_data(function: lambda_.Function, spec: FunctionSpec, *, table: dynamodb.ITable) -> None:
        if spec.table is not TableAccess.NONE:
            function.add_environment("TABLE_NAME", table.table_name)
            if spec.table is TableAccess.READ:
                table.grant_read_data(function)
            else:
                table.grant_read_write_data(function)

    @staticmethod
    def _grant_wallet_keys(
        function: lambda_.Function, spec: FunctionSpec, *, key_table: dynamodb.ITable, wallet_key: kms.IKey
    ) -> None:
        if spec.wallet_keys is WalletKeyAccess.NONE:
            return
        function.add_environment("KEY_TABLE_NAME", key_table.table_name)
        if spec.wallet_keys is WalletKeyAccess.MAKE:
            # The sealed keys are put with the wallet (attribute_not_exists), never read back nor changed.
            key_table.grant(function, "dynamodb:PutItem")
            function.add_environment("KMS_KEY_ID", wallet_key.key_id)
            # A fresh data key per wallet, bound to that wallet: no Decrypt (nothing here unwraps one), no
            # Encrypt of arbitrary data, no key administration.
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey"],
                    resources=[wallet_key.key_arn],
                    conditions={
                        "StringLike": {WALLET_CONTEXT_KEY: WALLET_ID_PATTERN},
                        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["wallet_id"]},
                    },
                )
            )
        else:
            # Reads which key sealed the item (for the destruction log) and removes its wrapped data key.
            key_table.grant(function, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # The key table is encrypted with the stack key, as the main table is.
        if key_table.encryption_key is not None:
            key_table.encryption_key.grant_encrypt_decrypt(function)

    @staticmethod
    def _grant_webhook_key(function: lambda_.Function, spec: FunctionSpec, webhook_key: kms.IKey) -> None:
        if spec.webhook_secrets is WebhookSecretAccess.NONE:
            return
        function.add_environment("WEBHOOK_KEY_ID", webhook_key.key_id)
        actions = ["kms:Decrypt"]
        if spec.webhook_secrets is WebhookSecretAccess.SEAL:
            actions.insert(0, "kms:Encrypt")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[webhook_key.key_arn],
                conditions={
                    "StringLike": {WEBHOOK_CONTEXT_KEY: WEBHOOK_ENDPOINT_PATTERN},
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["webhook_endpoint_id"]},
                },
            )
        )

    @staticmethod
    def _grant_secrets(function: lambda_.Function, spec: FunctionSpec, security: Security) -> None:
        """Each secret to the functions whose code reads it, and nothing else."""
        reads: list[tuple[str, secretsmanager.ISecret]] = []
        if spec.stripe:
            reads.append(("STRIPE_SECRET_ARN", security.stripe_secret))
        if spec.stablecoins:
            reads.append(("PROVIDERS_SECRET_ARN", security.providers_secret))
        if spec.payment_links or spec.verifies_tokens:
            reads.append(("PAYMENT_LINK_SECRET_ARN", security.payment_link_secret))
        for variable, secret in reads:
            function.add_environment(variable, secret.secret_arn)
            secret.grant_read(function)
