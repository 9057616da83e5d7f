"""Fund function: charge a wallet's amount due by card or bank, mint the same value as stablecoins and
post it to the ledger with the wallet's new state (shared/funding/service.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.dynamodb_funding import DynamoDBFundingStore
from shared.adapters.dynamodb_idempotency import idempotency_store
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.metrics import CountMetrics
from shared.adapters.providers_factory import routed_providers
from shared.adapters.secrets import app_secret_loader
from shared.api import build_resolver, handle_api_event
from shared.auth import principal_from_event
from shared.cards.ports import PaymentProcessor
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.funding.service import FundingService
from shared.idempotency import IdempotentRequests
from shared.providers.port import StablecoinProvider

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="1-255 characters")]


class FundWallet(BaseModel):
    """Body of POST /api/v2/invoice-wallets/{walletId}/fund."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_method: Annotated[
        str, Field(strict=True, pattern=r"^pm_[A-Za-z0-9_]{1,250}$", description="a Stripe PaymentMethod id")
    ]
    payment_token: Annotated[str, Field(strict=True, min_length=1, max_length=255)] | None = None


class Dependencies:
    def __init__(self, funding: FundingService, idempotency: IdempotentRequests) -> None:
        self.funding = funding
        self.idempotency = idempotency


def compose(
    settings: Settings,
    *,
    client: Any = None,
    payments: PaymentProcessor | None = None,
    providers: dict[str, StablecoinProvider] | None = None,
    app_secret: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> Dependencies:
    """Wire the real adapters once per process; tests hand in moto clients and stand-in adapters."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)

    secrets = app_secret_loader(settings.app_secret_arn, app_secret)

    if payments is None:
        from shared.adapters.stripe_client import build_stripe_client  # deferred: stripe is a heavy import
        from shared.adapters.stripe_payments import StripePaymentProcessor

        payments = StripePaymentProcessor(
            build_stripe_client(secrets()["stripe_secret_key"], settings.stripe_api_base)
        )
    wired, provider_router = routed_providers(
        settings, secrets, client, clock, CountMetrics(metrics), providers
    )
    service = FundingService(
        DynamoDBWalletRepository(client, settings.table_name),
        DynamoDBFundingStore(client, settings.table_name),
        payments,
        provider_router,
        wired,
        clock,
    )
    return Dependencies(
        service, IdempotentRequests(idempotency_store(client, settings.table_name, settings.service_name))
    )


deps: Dependencies | None = None


def _deps() -> Dependencies:
    # Composed on the first invocation, not at import: the Stripe key comes from Secrets Manager.
    global deps
    if deps is None:
        deps = compose(get_settings())
    return deps


@router.post(
    "/api/v2/invoice-wallets/<wallet_id>/fund",
    summary="Fund a wallet by card or bank: charge, mint and credit its amount due",
    responses={
        200: {"description": "Funded"},
        202: {"description": "The bank payment is processing; the wallet is funded when it settles"},
        402: {"description": "payment_failed: declined, nothing minted"},
        503: {"description": "provider_unavailable: nothing charged, or the charge was refunded"},
    },
)
def fund_wallet(wallet_id: str, body: FundWallet, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event, allow_link=True)
    request = {
        "method": "POST",
        "path": f"/api/v2/invoice-wallets/{wallet_id}/fund",
        "body": body.model_dump(mode="json"),
    }
    dependencies = _deps()

    def fund() -> tuple[int, Any]:
        outcome = dependencies.funding.fund(principal, wallet_id, body.payment_method, idempotency_key)
        if outcome.status_code == 200:
            metrics.add_metric(name="WalletsFunded", unit=MetricUnit.Count, value=1)
        return outcome.status_code, outcome.data

    return dependencies.idempotency.run(principal, idempotency_key, request, fund)


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _deps().idempotency.register_lambda_context(context)
    return handle_api_event(app, event, context)
