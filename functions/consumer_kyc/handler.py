"""Consumer KYC function: `POST /api/consumer/upgrade-kyc` starts a Stripe Identity verification
(shared/consumer/kyc.py); the level rises only on Stripe's signed webhook (functions/webhooks)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.consumer.access import require_consumer
from shared.consumer.output import KycStarted
from shared.models.consumer import UpgradeKyc

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/consumer/upgrade-kyc",
    summary="Start a Stripe Identity verification for KYC level 2 or 3; the level rises on its webhook",
    responses={
        202: {"description": "verification_session_id, verification_url, status pending"},
        400: {"description": "validation_error (level not 2 or 3); invalid_state (not above the current)"},
        404: {"description": "not_found: the caller has not onboarded"},
    },
)
def upgrade_kyc(body: UpgradeKyc, idempotency_key: IdempotencyKey = None) -> Answer[KycStarted]:
    principal = require_consumer(caller(router))

    def run() -> Outcome:
        return 202, KycStarted.of(capabilities().kyc.upgrade(principal, body.level))

    return idempotent(router, principal, idempotency_key, body, run)


app, lambda_handler = rest_function(router, metrics=metrics)
