"""Consumer function: onboarding, limits, balances, history, preferences, providers (transfers, deposits and
withdrawals are functions/consumer_money's)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer import providers
from shared.consumer.service import require_consumer
from shared.models.consumer import Coin, Onboard, PreferencesPatch, TransactionKind

metrics = Metrics()
router = APIGatewayRouter()


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post("/api/consumer/onboard", summary="Create the caller's profile and persistent wallet (level 1)")
def onboard(body: Onboard, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = _consumer()

    def run() -> Outcome:
        created, answer = capabilities().consumer.onboard(principal, body.email, body.phone)
        return (201 if created else 200), answer

    return idempotent(router, principal, idempotency_key, body, run)


@router.get("/api/consumer/limits", summary="KYC level, daily and monthly headroom, the next level's needs")
def limits() -> Response[Any]:
    return ok(capabilities().consumer.limits(_consumer()))


@router.get("/api/consumer/balance", summary="Balances per stablecoin and their USD total")
def balance() -> Response[Any]:
    return ok(capabilities().consumer.balance(_consumer()))


@router.get("/api/consumer/portfolio", summary="Holdings valued in USD, with the rates' time")
def portfolio() -> Response[Any]:
    principal = _consumer()
    return ok(capabilities().consumer.portfolio(principal, providers.primary(capabilities().provider_health)))


@router.get("/api/consumer/transactions", summary="The caller's transactions, newest first")
def transactions(
    type: Annotated[TransactionKind | None, Query()] = None,
    currency: Annotated[Coin | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response[Any]:
    return ok(capabilities().consumer.transactions(_consumer(), type, currency, limit, cursor))


@router.get("/api/consumer/preferences", summary="The caller's preferences")
def get_preferences() -> Response[Any]:
    return ok(capabilities().consumer.preferences(_consumer()))


@router.patch("/api/consumer/preferences", summary="Change some of the caller's preferences")
def patch_preferences(body: PreferencesPatch) -> Response[Any]:
    return ok(capabilities().consumer.update_preferences(_consumer(), body.model_dump(exclude_none=True)))


@router.get("/api/consumer/provider-status", summary="Provider health and the primary, for consumers")
def provider_status() -> Response[Any]:
    _consumer()
    return ok(providers.status_view(capabilities().provider_health, capabilities().adapters.clock.now()))


@router.get("/api/consumer/health", summary="Each provider's recorded health and the coins it serves")
def provider_health() -> Response[Any]:
    _consumer()
    return ok(providers.health_list(capabilities().provider_health))


app, lambda_handler = rest_function(router, metrics=metrics)
