"""Webhooks function: `POST /webhooks/stripe`, Stripe's signed events applied once each
(shared/stripe_events/service.py). No authorizer: the `Stripe-Signature` header is the authentication."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import Answer, ok, raw_body, rest_function
from shared.bootstrap import app as capabilities
from shared.stripe_events.output import StripeEventReceived

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/webhooks/stripe",
    summary="Receive a Stripe event (signed with Stripe-Signature); each event id is applied once",
    responses={
        200: {"description": "Applied, ignored, or a repeat of an event already processed"},
        400: {"description": "validation_error: missing, wrong or stale (over 5 minutes) signature"},
    },
)
def stripe_webhook() -> Answer[StripeEventReceived]:
    current = router.current_event
    result = capabilities().stripe_events.handle(
        raw_body(current.raw_event), current.headers.get("Stripe-Signature")
    )
    metrics.add_metric(name="StripeEvents", unit=MetricUnit.Count, value=1)
    outcome = {"event_id": result.event_id, "type": result.event_type, "outcome": result.outcome}
    logger.info("stripe event", extra=outcome)
    return ok(StripeEventReceived.of({"received": True, **outcome}))


app, lambda_handler = rest_function(router, metrics=metrics)
