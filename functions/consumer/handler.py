"""Consumer function: onboarding, limits, balances, history, preferences, providers (transfers, deposits and
withdrawals are functions/consumer_money's)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, PageCursor, PageLimit, caller, ok, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.auth import Principal
from shared.bootstrap import app as capabilities
from shared.consumer import output as out
from shared.consumer.access import require_consumer
from shared.models.consumer import Coin, Onboard, PreferencesPatch, TransactionKind

metrics = Metrics()
router = APIGatewayRouter()
Kind, CoinOf = Annotated[TransactionKind | None, Query()], Annotated[Coin | None, Query()]


def _consumer() -> Principal:
    return require_consumer(caller(router))


@router.post("/api/consumer/onboard", summary="Create the caller's profile and persistent wallet (level 1)")
def onboard(body: Onboard, idempotency_key: IdempotencyKey = None) -> Answer[out.Onboarded]:
    principal = _consumer()

    def run() -> Outcome:
        created, data = capabilities().consumer.onboard(principal, body.email, body.phone)
        return (201 if created else 200), out.Onboarded.of(data)

    return idempotent(router, principal, idempotency_key, body, run)


@router.get("/api/consumer/limits", summary="KYC level, daily and monthly headroom, the next level's needs")
def limits() -> Answer[out.ConsumerLimits]:
    return ok(out.ConsumerLimits.of(capabilities().consumer.limits(_consumer())))


@router.get("/api/consumer/balance", summary="Balances per stablecoin and their USD total")
def balance() -> Answer[out.ConsumerBalance]:
    return ok(out.ConsumerBalance.of(capabilities().consumer.balance(_consumer())))


@router.get("/api/consumer/portfolio", summary="Holdings valued in USD, with the rates' time")
def portfolio() -> Answer[out.ConsumerPortfolio]:
    from shared.consumer import providers  # provider views load with the routes that show them (cold start)

    principal, app = _consumer(), capabilities()
    held = app.consumer.portfolio(principal, providers.primary(app.provider_health))
    return ok(out.ConsumerPortfolio.of(held))


@router.get("/api/consumer/transactions", summary="The caller's transactions, newest first")
def transactions(
    type: Kind = None, currency: CoinOf = None, limit: PageLimit = 20, cursor: PageCursor = None
) -> Answer[out.ConsumerTransactions]:
    page = capabilities().consumer.transactions(_consumer(), type, currency, limit, cursor)
    return ok(out.ConsumerTransactions.of(page))


@router.get("/api/consumer/preferences", summary="The caller's preferences")
def get_preferences() -> Answer[out.ConsumerPreferences]:
    return ok(out.ConsumerPreferences.of(capabilities().consumer.preferences(_consumer())))


@router.patch("/api/consumer/preferences", summary="Change some of the caller's preferences")
def patch_preferences(body: PreferencesPatch) -> Answer[out.ConsumerPreferences]:
    changed = capabilities().consumer.update_preferences(_consumer(), body.model_dump(exclude_none=True))
    return ok(out.ConsumerPreferences.of(changed))


@router.get("/api/consumer/provider-status", summary="Provider health and the primary, for consumers")
def provider_status() -> Answer[out.StatusWithCoins]:
    from shared.consumer import providers

    app, _ = capabilities(), _consumer()
    return ok(out.StatusWithCoins.of(providers.status_view(app.provider_health, app.adapters.clock.now())))


@router.get("/api/consumer/health", summary="Each provider's recorded health and the coins it serves")
def provider_health() -> Answer[out.HealthWithCoins]:
    from shared.consumer import providers

    _consumer()
    return ok(out.HealthWithCoins.of(providers.health_list(capabilities().provider_health)))


app, lambda_handler = rest_function(router, metrics=metrics)
