"""Wallet REST function: create (from an invoice, v1 checkout, standalone ephemeral), read, count down,
transform, and the admin stats and active list."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from shared.adapters.dynamodb_idempotency import idempotency_store
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.kms_keys import KmsDataKeys
from shared.adapters.scheduler import EventBridgeDestructionScheduler
from shared.adapters.secrets import app_secret_loader
from shared.api import build_resolver, handle_api_event, ok
from shared.auth import principal_from_event
from shared.cards.ports import CardholderAddress, CardIssuer
from shared.checkout.links import PaymentLinks, qr_data_uri
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.idempotency import IdempotentRequests
from shared.invoices.service import InvoiceService
from shared.models.wallet import CreateEphemeral, CreateFromInvoice, CreateInvoiceWallet
from shared.wallets.checkout import InvoiceWalletCheckout
from shared.wallets.mode import WalletMode
from shared.wallets.reads import WalletQueries
from shared.wallets.service import CardholderProfile, WalletService, WalletView

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="1-255 characters")]
ModeHeader = Annotated[
    Literal["ephemeral", "adaptive", "persistent"] | None,
    Header(alias="X-Wallet-Mode", description="wallet mode; the body's mode_override wins"),
]


# The business identity the issuer verifies for each tenant's company cardholder: the platform operates
# the cards on its merchants' behalf.
def cardholder_profile(settings: Settings) -> CardholderProfile:
    """The identity of the tenants' company cardholder, from configuration."""
    return CardholderProfile(
        name=settings.cardholder_name,
        email=settings.cardholder_email,
        address=CardholderAddress(
            line1=settings.cardholder_line1,
            city=settings.cardholder_city,
            postal_code=settings.cardholder_postal_code,
            country=settings.cardholder_country,
            state=settings.cardholder_state,
        ),
    )


@dataclass(frozen=True)
class Dependencies:
    wallets: WalletService
    queries: WalletQueries
    checkout: InvoiceWalletCheckout
    idempotency: IdempotentRequests


def compose(
    settings: Settings,
    *,
    client: Any = None,
    kms: Any = None,
    scheduler: Any = None,
    cards: CardIssuer | None = None,
    app_secret: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> Dependencies:
    """Wire the real adapters once per process; tests hand in moto clients and a stand-in issuer."""
    import boto3

    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)

    secrets = app_secret_loader(settings.app_secret_arn, app_secret)

    if cards is None:
        from shared.adapters.stripe_client import build_stripe_client  # deferred: stripe is a heavy import
        from shared.adapters.stripe_issuing import StripeCardIssuer

        cards = StripeCardIssuer(
            build_stripe_client(secrets()["stripe_secret_key"], settings.stripe_api_base)
        )
    wallets = DynamoDBWalletRepository(client, settings.table_name)
    invoice_repository = DynamoDBInvoiceRepository(client, settings.table_name)
    destruction = EventBridgeDestructionScheduler(
        scheduler or boto3.client("scheduler", region_name=settings.aws_region),
        group_name=settings.schedule_group_name,
        target_arn=settings.destroy_function_arn,
        role_arn=settings.scheduler_role_arn,
        dead_letter_arn=settings.scheduler_dlq_arn,
    )
    data_keys = KmsDataKeys(kms or boto3.client("kms", region_name=settings.aws_region), settings.kms_key_id)
    service = WalletService(
        wallets, invoice_repository, data_keys, cards, destruction, clock, cardholder_profile(settings)
    )

    @lru_cache(maxsize=1)
    def links() -> PaymentLinks:
        return PaymentLinks(secrets()["payment_link_secret"], clock, settings.public_base_url)

    return Dependencies(
        wallets=service,
        queries=WalletQueries(wallets, cards, clock),
        checkout=InvoiceWalletCheckout(
            InvoiceService(invoice_repository, clock), service, links, qr_data_uri
        ),
        idempotency=IdempotentRequests(idempotency_store(client, settings.table_name, settings.service_name)),
    )


deps: Dependencies | None = None


def _deps() -> Dependencies:
    # Composed on the first invocation, not at import: the Stripe key comes from Secrets Manager.
    global deps
    if deps is None:
        deps = compose(get_settings())
    return deps


def _record_creation(view: WalletView) -> None:
    if not view.is_new:
        return
    with single_metric(name="WalletsCreated", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="mode", value=view.wallet.wallet_type.value)
    if view.wallet.ttl_seconds is not None:
        metrics.add_metric(name="WalletTtlSeconds", unit=MetricUnit.Seconds, value=view.wallet.ttl_seconds)


@router.post(
    "/api/v2/invoice-wallets/create-from-invoice",
    summary="Create the invoice's wallet (or return the one it has)",
    responses={201: {"description": "Created"}, 200: {"description": "The invoice's existing wallet"}},
)
def create_from_invoice(
    body: CreateFromInvoice, idempotency_key: IdempotencyKey = None, wallet_mode: ModeHeader = None
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    chosen = body.mode_override or wallet_mode
    request = {
        "method": "POST",
        "path": "/api/v2/invoice-wallets/create-from-invoice",
        "body": {**body.model_dump(mode="json"), "mode": chosen},
    }
    dependencies = _deps()

    def create() -> tuple[int, Any]:
        view = dependencies.wallets.create_for_invoice(
            principal,
            body.invoice_id,
            ttl_seconds=body.ttl,
            mode_override=WalletMode(chosen) if chosen else None,
        )
        _record_creation(view)
        data = {
            **view.to_api(),
            "isNew": view.is_new,
            "mode": view.wallet.wallet_type.value,
            "expiresIn": view.wallet.remaining_seconds(view.now),
        }
        return (201 if view.is_new else 200), data

    return dependencies.idempotency.run(principal, idempotency_key, request, create)


@router.post(
    "/api/v1/invoices/create-wallet",
    summary="Create a one-line invoice, its wallet and a payment link",
    responses={201: {"description": "Created"}},
)
def create_invoice_wallet(
    body: CreateInvoiceWallet, idempotency_key: IdempotencyKey = None, wallet_mode: ModeHeader = None
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    request = {
        "method": "POST",
        "path": "/api/v1/invoices/create-wallet",
        "body": {**body.model_dump(mode="json"), "mode": wallet_mode},
    }
    dependencies = _deps()

    def create() -> tuple[int, Any]:
        data, view = dependencies.checkout.create(
            principal, body, WalletMode(wallet_mode) if wallet_mode else None
        )
        _record_creation(view)
        return 201, data

    return dependencies.idempotency.run(principal, idempotency_key, request, create)


@router.post(
    "/api/v1/wallets/ephemeral/create",
    summary="Create an ephemeral wallet without an invoice",
    responses={201: {"description": "Created"}},
)
def create_ephemeral(body: CreateEphemeral, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    request = {
        "method": "POST",
        "path": "/api/v1/wallets/ephemeral/create",
        "body": body.model_dump(mode="json"),
    }
    dependencies = _deps()

    def create() -> tuple[int, Any]:
        view = dependencies.wallets.create_standalone(
            principal, body.purpose, body.expiryMinutes * 60, body.amount
        )
        _record_creation(view)
        wallet = view.wallet
        return 201, {
            "walletId": wallet.wallet_id,
            "address": wallet.evm_address,
            "solanaAddress": wallet.solana_address,
            "expiresAt": wallet.to_api(view.now)["expires_at"],
        }

    return dependencies.idempotency.run(principal, idempotency_key, request, create)


@router.get("/api/v2/invoice-wallets/stats", summary="Admin: the tenant's wallet counters")
def wallet_stats() -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    return ok(_deps().queries.stats(principal))


@router.get("/api/v2/invoice-wallets/active", summary="Admin: the tenant's active wallets, newest first")
def active_wallets(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    page, now = _deps().queries.active(principal, limit, cursor)
    return ok(
        {
            "wallets": [wallet.to_api(now) for wallet in page.items],
            "next_cursor": page.next_cursor,
            "has_more": page.next_cursor is not None,
        }
    )


@router.get("/api/v2/invoice-wallets/by-invoice/<invoice_id>", summary="The wallet of an invoice")
def wallet_by_invoice(invoice_id: str) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    view = _deps().queries.by_invoice(principal, invoice_id)
    return ok(view.to_api(), headers={"X-Wallet-ID": view.wallet.wallet_id})


@router.get("/api/v2/invoice-wallets/<wallet_id>", summary="A wallet and its card")
def get_wallet(wallet_id: str) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    view = _deps().queries.get(principal, wallet_id)
    return ok(view.to_api(), headers={"X-Wallet-ID": view.wallet.wallet_id})


@router.get("/api/v2/invoice-wallets/<wallet_id>/status", summary="A wallet's status and countdown")
def wallet_status(wallet_id: str) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    return ok(_deps().queries.status(principal, wallet_id))


@router.get(
    "/api/v2/invoice-wallets/<wallet_id>/countdown", summary="Public countdown of an ephemeral wallet"
)
def wallet_countdown(wallet_id: str) -> Response[Any]:
    countdown = _deps().queries.countdown(wallet_id)
    return ok(countdown, headers={"X-Countdown-Seconds": str(countdown["remaining_seconds"])})


@router.post("/api/v2/invoice-wallets/<wallet_id>/transform", summary="Make a wallet persistent for good")
def transform_wallet(wallet_id: str, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    request = {"method": "POST", "path": f"/api/v2/invoice-wallets/{wallet_id}/transform", "body": None}
    dependencies = _deps()

    def transform() -> tuple[int, Any]:
        return 200, dependencies.wallets.transform(principal, wallet_id)

    return dependencies.idempotency.run(principal, idempotency_key, request, transform)


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _deps().idempotency.register_lambda_context(context)
    return handle_api_event(app, event, context)
