"""Webhooks function: `POST /webhooks/stripe`, Stripe's signed events applied once each
(shared/stripe_events/service.py). No authorizer: the `Stripe-Signature` header is the authentication."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.adapters.dynamodb_funding import DynamoDBFundingStore
from shared.adapters.dynamodb_stripe_events import DynamoDBStripeEventLog
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.metrics import CountMetrics
from shared.adapters.providers_factory import routed_providers
from shared.adapters.secrets import app_secret_loader
from shared.api import build_resolver, handle_api_event, ok
from shared.cards.ports import PaymentProcessor, WebhookVerifier
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.errors import ValidationFailed
from shared.funding.service import FundingService
from shared.providers.port import StablecoinProvider
from shared.stripe_events.service import StripeEventService

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


def compose(
    settings: Settings,
    *,
    client: Any = None,
    payments: PaymentProcessor | None = None,
    verifier: WebhookVerifier | None = None,
    providers: dict[str, StablecoinProvider] | None = None,
    app_secret: dict[str, str] | None = None,
    clock: Clock | None = None,
) -> StripeEventService:
    """Wire the real adapters once per process; tests hand in moto clients and stand-in adapters."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)

    secrets = app_secret_loader(settings.app_secret_arn, app_secret)

    if payments is None or verifier is None:
        # deferred: stripe is a heavy import
        from shared.adapters.stripe_client import build_stripe_client
        from shared.adapters.stripe_payments import StripePaymentProcessor, StripeWebhookVerifier

        verifier = verifier or StripeWebhookVerifier(secrets()["stripe_webhook_secret"])
        payments = payments or StripePaymentProcessor(
            build_stripe_client(secrets()["stripe_secret_key"], settings.stripe_api_base)
        )
    wired, provider_router = routed_providers(
        settings, secrets, client, clock, CountMetrics(metrics), providers
    )
    store = DynamoDBFundingStore(client, settings.table_name)
    funding = FundingService(
        DynamoDBWalletRepository(client, settings.table_name), store, payments, provider_router, wired, clock
    )
    return StripeEventService(
        verifier, DynamoDBStripeEventLog(client, settings.table_name), funding, store, clock
    )


deps: StripeEventService | None = None


def _deps() -> StripeEventService:
    # Composed on the first invocation, not at import: the secrets come from Secrets Manager.
    global deps
    if deps is None:
        deps = compose(get_settings())
    return deps


def raw_body(event: dict[str, Any]) -> bytes:
    """The exact bytes Stripe signed: API Gateway passes the body as text, or base64 for binary types."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed("the request body is not valid base64") from error


@router.post(
    "/webhooks/stripe",
    summary="Receive a Stripe event (signed with Stripe-Signature); each event id is applied once",
    responses={
        200: {"description": "Applied, ignored, or a repeat of an event already processed"},
        400: {"description": "validation_error: missing, wrong or stale (over 5 minutes) signature"},
    },
)
def stripe_webhook() -> Response[str]:
    current = router.current_event
    signature = current.headers.get("Stripe-Signature")
    result = _deps().handle(raw_body(current.raw_event), signature)
    metrics.add_metric(name="StripeEvents", unit=MetricUnit.Count, value=1)
    extra = {"event_id": result.event_id, "type": result.event_type, "outcome": result.outcome}
    logger.info("stripe event", extra=extra)
    return ok(
        {
            "received": True,
            "event_id": result.event_id,
            "type": result.event_type,
            "outcome": result.outcome,
        }
    )


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_api_event(app, event, context)
