"""The pay and destroy functions' shared wiring: paying settles into destruction and destruction settles an
in-flight payment first, so both functions build the same two services over the same adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.dynamodb_destruction import DynamoDBDestructionStore
from shared.adapters.dynamodb_funding import DynamoDBFundingStore
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_payments import DynamoDBPaymentStore
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.providers_factory import routed_providers
from shared.adapters.scheduler import EventBridgeDestructionScheduler
from shared.adapters.secrets import app_secret_loader
from shared.cards.ports import CardIssuer, PaymentProcessor
from shared.clock import Clock, ScaledClock
from shared.config import Settings
from shared.destruction.ports import DestructionMetrics
from shared.destruction.service import DestructionService
from shared.payments.service import PaymentService
from shared.providers.port import MetricsSink, StablecoinProvider


@dataclass(frozen=True)
class Settlement:
    payments: PaymentService
    destruction: DestructionService
    wallets: DynamoDBWalletRepository
    invoices: DynamoDBInvoiceRepository
    clock: Clock
    secrets: Any


def build_settlement(
    settings: Settings,
    *,
    provider_metrics: MetricsSink,
    client: Any = None,
    scheduler: Any = None,
    payments: PaymentProcessor | None = None,
    cards: CardIssuer | None = None,
    providers: dict[str, StablecoinProvider] | None = None,
    app_secret: dict[str, str] | None = None,
    clock: Clock | None = None,
    destruction_metrics: DestructionMetrics | None = None,
    destroy_function_arn: str | None = None,
) -> Settlement:
    """Real adapters unless handed in (tests pass moto clients, stand-in adapters and fakes)."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)
    secrets = app_secret_loader(settings.app_secret_arn, app_secret)
    if payments is None or cards is None:
        from shared.adapters.stripe_client import build_stripe_client  # deferred: stripe is a heavy import
        from shared.adapters.stripe_issuing import StripeCardIssuer
        from shared.adapters.stripe_payments import StripePaymentProcessor

        stripe_client = build_stripe_client(secrets()["stripe_secret_key"], settings.stripe_api_base)
        payments = payments or StripePaymentProcessor(stripe_client)
        cards = cards or StripeCardIssuer(stripe_client)
    if scheduler is None:
        import boto3

        scheduler = boto3.client("scheduler", region_name=settings.aws_region)
    wired, router = routed_providers(settings, secrets, client, clock, provider_metrics, providers)
    ledger = DynamoDBLedger(client, settings.table_name)
    wallets = DynamoDBWalletRepository(client, settings.table_name)
    invoices = DynamoDBInvoiceRepository(client, settings.table_name)
    paying = PaymentService(
        wallets, invoices, DynamoDBPaymentStore(client, settings.table_name, ledger), router, wired, clock
    )
    destruction = DestructionService(
        wallets,
        DynamoDBDestructionStore(client, settings.table_name, ledger),
        DynamoDBFundingStore(client, settings.table_name, ledger),
        payments,
        cards,
        EventBridgeDestructionScheduler(
            scheduler,
            group_name=settings.schedule_group_name,
            target_arn=destroy_function_arn or settings.destroy_function_arn,
            role_arn=settings.scheduler_role_arn,
            dead_letter_arn=settings.scheduler_dlq_arn,
        ),
        router,
        wired,
        clock,
        paying,
        destruction_metrics,
    )
    paying.attach_destroyer(destruction)
    return Settlement(paying, destruction, wallets, invoices, clock, secrets)
