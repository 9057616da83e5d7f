"""Reconcile function: the daily reserve reconciliation (schedule), on demand, and its history (admin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from shared.adapters.dynamodb_idempotency import idempotency_store
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.dynamodb_reconciliations import DynamoDBReconciliationRepository
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.secrets import app_secret_loader
from shared.api import build_resolver, handle_api_event, ok
from shared.auth import ADMIN, principal_from_event, require_role
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.errors import DependencyUnavailable
from shared.idempotency import IdempotentRequests
from shared.providers.port import StablecoinProvider
from shared.reserve.service import ProvidersSupply, ReconciliationService, SupplyReporter

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="1-255 characters")]


class PowertoolsReserveMetrics:
    """EMF metrics in the stack's namespace; the `ReserveDiscrepancy` alarm fires on any value above 0."""

    def discrepancy(self, gap: int) -> None:
        metrics.add_metric(name="ReserveDiscrepancy", unit=MetricUnit.Count, value=gap)

    def unverified_supply(self, tokens: int) -> None:
        metrics.add_metric(name="ReserveSupplyUnverified", unit=MetricUnit.Count, value=tokens)


@dataclass(frozen=True)
class Dependencies:
    reconciliation: ReconciliationService
    idempotency: IdempotentRequests


def provider_supply(settings: Settings, app_secret: dict[str, str] | None = None) -> SupplyReporter | None:
    """The providers' reported supply, summed over every provider with a configured base URL.

    None when no provider is configured: the providers' line then says `unavailable` rather than claiming
    a match nobody checked. The adapters (and the AppSecret holding their API keys) are built on the first
    reconciliation, never at import.
    """
    if not (settings.tempo_api_base or settings.circle_api_base):
        return None
    secrets = app_secret_loader(settings.app_secret_arn, app_secret)
    built: dict[str, StablecoinProvider] = {}

    def providers() -> dict[str, StablecoinProvider]:
        if not built:
            # Deferred: httpx and the adapters load with the first reconciliation, not with the history.
            from shared.adapters.providers_factory import build_providers

            try:
                keys = secrets()
            except GetParameterError as exc:
                raise DependencyUnavailable("the providers' API keys could not be read") from exc
            built.update(build_providers(settings, keys))
        return built

    return ProvidersSupply(providers)


def compose(
    settings: Settings,
    client: Any = None,
    clock: Clock | None = None,
    supply: SupplyReporter | None = None,
    *,
    app_secret: dict[str, str] | None = None,
) -> Dependencies:
    """Wire the real adapters once per process; tests hand in moto clients, a clock and a reporter."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)
    supply = supply or provider_supply(settings, app_secret)
    service = ReconciliationService(
        DynamoDBLedger(client, settings.table_name),
        DynamoDBReconciliationRepository(client, settings.table_name),
        PowertoolsReserveMetrics(),
        clock,
        supply,
    )
    store = idempotency_store(client, settings.table_name, settings.service_name)
    return Dependencies(service, IdempotentRequests(store))


deps = compose(get_settings())


@router.post("/api/v2/reserve/reconcile", summary="Reconcile the reserve now (admin)")
def reconcile(idempotency_key: IdempotencyKey = None) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    require_role(principal, ADMIN)
    request = {"method": "POST", "path": "/api/v2/reserve/reconcile", "body": None}

    def run() -> tuple[int, Any]:
        return 200, deps.reconciliation.reconcile_on_request(principal).to_api()

    return deps.idempotency.run(principal, idempotency_key, request, run)


@router.get("/api/v2/reserve/reconciliations", summary="Reconciliation records, newest day first (admin)")
def reconciliations(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event)
    page = deps.reconciliation.history(principal, limit, cursor)
    return ok(
        {
            "reconciliations": [record.to_api() for record in page.items],
            "next_cursor": page.next_cursor,
            "has_more": page.next_cursor is not None,
        }
    )


app = build_resolver()
app.include_router(router)


def _scheduled() -> dict[str, Any]:
    record = deps.reconciliation.reconcile_on_schedule()
    logger.info("reserve reconciled", extra={"date": record.date.isoformat(), "status": record.status.value})
    return {"date": record.date.isoformat(), "status": record.status.value, "runs": record.runs}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "httpMethod" in event:
        deps.idempotency.register_lambda_context(context)
        return handle_api_event(app, event, context)
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        return _scheduled()
    raise ValueError("reconcile: unrecognised event shape")
