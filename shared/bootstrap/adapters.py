"""The process's adapters: each built once, on first use, so a cold start pays only for what the invoked
route touches and warm invocations reuse clients. Tests hand in any of them by parameter."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings

if TYPE_CHECKING:
    from shared.adapters.dynamodb_rate_limits import DynamoDBTenantLimits
    from shared.api.idempotency_records import IdempotentRequests
    from shared.api.rate_limits import RateLimiter
    from shared.auth import JwtVerifier
    from shared.cards.ports import CardIssuer, PaymentProcessor, WebhookVerifier
    from shared.consumer.ports import ExchangeRates, IdentityVerifier
    from shared.consumer.withdrawals import BankPayouts
    from shared.destruction.ports import DestructionMetrics
    from shared.events.ports import RetryTimer, SecretSealer, WebhookSender
    from shared.events.urls import AddressResolver
    from shared.payouts.ports import PayoutTimer
    from shared.providers.port import MetricsSink, StablecoinProvider
    from shared.providers.service import ProviderRouter
    from shared.wallets.ports import DestructionScheduler


class Adapters:
    """Outside-world adapters of one process.

    Every attribute is a `cached_property`: built on first read, then kept. A keyword argument of the same
    name replaces it (cosmicpython's bootstrap: tests pass moto clients, stand-ins and fakes), which works
    because a cached_property reads the instance's own `__dict__` first.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or get_settings()
        unknown = sorted(
            name for name in overrides if not isinstance(getattr(type(self), name, None), cached_property)
        )
        if unknown:
            raise TypeError(f"no such adapter: {', '.join(unknown)}")
        self._given = {name for name, value in overrides.items() if value is not None}
        for name in self._given:
            self.__dict__[name] = overrides[name]

    def overridden(self, name: str) -> bool:
        """Whether `name` was handed in rather than built from the settings."""
        return name in self._given

    # -- AWS ------------------------------------------------------------------------------------------
    @cached_property
    def dynamodb(self) -> Any:
        from shared.adapters.dynamodb_table import dynamodb_client

        return dynamodb_client(self.settings.aws_region)

    @cached_property
    def dynamodb_probe(self) -> Any:
        """A client without retries and with one-second timeouts, for health probes."""
        from shared.adapters.dynamodb_table import PROBE_CONFIG, dynamodb_client

        return dynamodb_client(self.settings.aws_region, PROBE_CONFIG)

    @cached_property
    def sqs(self) -> Any:
        from shared.adapters.sqs_imports import sqs_client

        return sqs_client(self.settings.aws_region)

    @cached_property
    def kms(self) -> Any:
        from shared.adapters.kms_keys import kms_client

        return kms_client(self.settings.aws_region)

    @cached_property
    def scheduler(self) -> Any:
        from shared.adapters.scheduler import scheduler_client

        return scheduler_client(self.settings.aws_region)

    @cached_property
    def destruction_scheduler(self) -> DestructionScheduler:
        from shared.adapters.scheduler import EventBridgeDestructionScheduler

        settings = self.settings
        return EventBridgeDestructionScheduler(
            self.scheduler,
            group_name=settings.schedule_group_name,
            target_arn=self.destroy_target,
            role_arn=settings.scheduler_role_arn,
            dead_letter_arn=settings.scheduler_dlq_arn,
        )

    @cached_property
    def destroy_target(self) -> str:
        """The destroy function's ARN, which destruction schedules invoke."""
        return self.settings.destroy_function_arn

    def schedules_invoke(self, function_arn: str) -> None:
        """The destroy function names itself as its schedules' target (its own ARN cannot be in its
        environment: CloudFormation would see a cycle)."""
        if function_arn and not self.settings.destroy_function_arn and "destroy_target" not in self.__dict__:
            self.__dict__["destroy_target"] = function_arn

    @cached_property
    def idempotency(self) -> IdempotentRequests:
        from shared.adapters.dynamodb_idempotency import idempotency_store
        from shared.api.idempotency_records import IdempotentRequests

        settings = self.settings
        return IdempotentRequests(
            idempotency_store(self.dynamodb, settings.table_name, settings.service_name)
        )

    @cached_property
    def tenant_limits(self) -> DynamoDBTenantLimits:
        from shared.adapters.dynamodb_rate_limits import DynamoDBTenantLimits

        return DynamoDBTenantLimits(self.dynamodb, self.settings.table_name)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Windows count in wall-clock time (never the scaled clock); their items' TTL is in the table
        clock's terms, so the local runtime's scaled TTL sweep cannot delete a window early."""
        from shared.adapters.dynamodb_rate_limits import DynamoDBRateCounter
        from shared.api.rate_limits import RateLimiter

        settings = self.settings
        counter = DynamoDBRateCounter(
            self.dynamodb,
            settings.table_name,
            lambda: self.clock.now().timestamp(),
            settings.clock_speed,
        )
        return RateLimiter(counter, self.tenant_limits)

    # -- time and secrets -----------------------------------------------------------------------------
    @cached_property
    def webhook_timer(self) -> RetryTimer:
        from shared.adapters.timers import WEBHOOK_RETRY, SchedulerTimers

        settings = self.settings
        return SchedulerTimers(
            self.scheduler,
            WEBHOOK_RETRY,
            replace=True,
            group_name=settings.schedule_group_name,
            role_arn=settings.scheduler_role_arn,
            dead_letter_arn=settings.scheduler_dlq_arn,
            target=lambda: settings.webhook_delivery_function_arn or self._webhook_delivery_arn,
        )

    @cached_property
    def payout_timer(self) -> PayoutTimer:
        from shared.adapters.timers import PAYOUT, SchedulerTimers

        settings = self.settings
        return SchedulerTimers(
            self.scheduler,
            PAYOUT,
            replace=False,
            group_name=settings.schedule_group_name,
            role_arn=settings.scheduler_role_arn,
            dead_letter_arn=settings.scheduler_dlq_arn,
            target=lambda: settings.payout_worker_function_arn,
        )

    _webhook_delivery_arn = ""

    def webhook_timers_invoke(self, function_arn: str) -> None:
        """webhook_delivery names itself as its timers' target (from its invocation context)."""
        if function_arn and not self._webhook_delivery_arn:
            self._webhook_delivery_arn = function_arn

    @cached_property
    def webhook_secrets(self) -> SecretSealer:
        """Endpoints' signing secrets, sealed under the webhook key (KMS) with the endpoint's id."""
        from shared.adapters.kms_webhook_secrets import KmsSecretSealer

        return KmsSecretSealer(self.kms, self.settings.webhook_key_id)

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        from shared.adapters.webhook_sender import HttpxWebhookSender

        return HttpxWebhookSender()

    @cached_property
    def address_resolver(self) -> AddressResolver:
        from shared.adapters.dns import SystemResolver

        return SystemResolver()

    @cached_property
    def clock(self) -> Clock:
        return ScaledClock(self.settings.clock_speed, self.settings.clock_origin)

    @cached_property
    def stripe_keys(self) -> dict[str, str]:
        """StripeSecret: `stripe_secret_key` and `stripe_webhook_secret`, read when a builder first needs
        them: composing a capability never waits on Secrets Manager."""
        from shared.adapters.secrets import secret_json

        return secret_json(self.settings.stripe_secret_arn)

    @cached_property
    def provider_keys(self) -> dict[str, str]:
        """ProvidersSecret: `tempo_api_key` and `circle_api_key`."""
        from shared.adapters.secrets import secret_json

        return secret_json(self.settings.providers_secret_arn)

    @cached_property
    def payment_link_secret(self) -> str:
        """PaymentLinkSecret: the HMAC key of payment links."""
        from shared.adapters.secrets import secret_string

        return secret_string(self.settings.payment_link_secret_arn)

    @cached_property
    def rates(self) -> ExchangeRates:
        from shared.adapters.rates import ConfiguredRates

        return ConfiguredRates(self.settings.usd_rates, self.clock)

    # -- callers' credentials --------------------------------------------------------------------------
    @cached_property
    def jwt_verifier(self) -> JwtVerifier:
        """The authorizer's JWT check: an HS256 secret from JwtSecret (read on the first token, then kept by
        the verifier) when configured, else the identity provider's JWKS."""
        from shared.auth import JwtVerifier, secret_from_string

        settings = self.settings
        if settings.jwt_secret_arn:
            from shared.adapters.secrets import secret_string

            arn = settings.jwt_secret_arn
            return JwtVerifier(
                secret=lambda: secret_from_string(secret_string(arn)),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        return JwtVerifier(
            jwks_url=settings.jwt_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )

    # -- Stripe ---------------------------------------------------------------------------------------
    @cached_property
    def stripe(self) -> Any:
        from shared.adapters.stripe_client import build_stripe_client  # stripe is a heavy import

        return build_stripe_client(self.stripe_keys["stripe_secret_key"], self.settings.stripe_api_base)

    @cached_property
    def payments(self) -> PaymentProcessor:
        from shared.adapters.stripe_payments import StripePaymentProcessor

        return StripePaymentProcessor(self.stripe)

    @cached_property
    def cards(self) -> CardIssuer:
        from shared.adapters.stripe_issuing import StripeCardIssuer

        return StripeCardIssuer(self.stripe)

    @cached_property
    def identity(self) -> IdentityVerifier:
        from shared.adapters.stripe_identity import StripeIdentityVerifier

        return StripeIdentityVerifier(self.stripe)

    @cached_property
    def connect(self) -> BankPayouts:
        """Stripe Connect: consumer withdrawals to a bank."""
        from shared.adapters.stripe_connect import StripeBankPayouts

        return StripeBankPayouts(self.stripe)

    @cached_property
    def webhook_verifier(self) -> WebhookVerifier:
        from shared.adapters.stripe_payments import StripeWebhookVerifier

        return StripeWebhookVerifier(self.stripe_keys["stripe_webhook_secret"])

    # -- stablecoin providers -------------------------------------------------------------------------
    @cached_property
    def providers(self) -> dict[str, StablecoinProvider]:
        from shared.adapters.providers_factory import build_providers

        return build_providers(self.settings, self.provider_keys)

    @cached_property
    def provider_metrics(self) -> MetricsSink:
        from aws_lambda_powertools import Metrics

        from shared.adapters.metrics import CountMetrics

        # Powertools keeps one metric set per process, so this sink flushes with the handler's Metrics.
        return CountMetrics(Metrics())

    @cached_property
    def provider_router(self) -> ProviderRouter:
        from shared.adapters.dynamodb_provider_health import DynamoDBProviderHealthRepository
        from shared.providers.service import ProviderRouter

        repository = DynamoDBProviderHealthRepository(self.dynamodb, self.settings.table_name)
        return ProviderRouter(self.providers, repository, self.clock, self.provider_metrics)

    @cached_property
    def destruction_metrics(self) -> DestructionMetrics:
        from shared.adapters.metrics import CloudWatchDestructionMetrics

        return CloudWatchDestructionMetrics()
