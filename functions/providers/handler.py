"""Providers function: the scheduled health check, and the two provider-health views from recorded health."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.adapters.dynamodb_provider_health import DynamoDBProviderHealthRepository
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.metrics import CountMetrics
from shared.adapters.providers_factory import build_providers
from shared.adapters.secrets import secret_string
from shared.api import build_resolver, handle_api_event, ok
from shared.auth import principal_from_event
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.outbox.records import iso
from shared.providers.models import CIRCLE, DEFAULT_ORDER, TEMPO, HealthStatus
from shared.providers.port import MetricsSink, ProviderHealthRepository, StablecoinProvider
from shared.providers.service import HealthCheckService, Overview, ProviderView, overview

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


@dataclass(frozen=True)
class Dependencies:
    clock: Clock
    repository: ProviderHealthRepository
    checks: Callable[[], HealthCheckService]


def compose(
    settings: Settings,
    *,
    client: Any = None,
    clock: Clock | None = None,
    providers: dict[str, StablecoinProvider] | None = None,
    metrics_sink: MetricsSink | None = None,
) -> Dependencies:
    """Wire once per process. Provider adapters (and the secret holding their keys) are built on the
    first health check only, so the GET views never wait on Secrets Manager."""
    client = client or dynamodb_client(settings.aws_region)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)
    repository = DynamoDBProviderHealthRepository(client, settings.table_name)
    sink = metrics_sink or CountMetrics(metrics)

    @lru_cache(maxsize=1)
    def checks() -> HealthCheckService:
        wired = providers
        if wired is None:
            keys: dict[str, str] = json.loads(secret_string(settings.app_secret_arn))
            wired = build_providers(settings, keys)
        return HealthCheckService(wired, repository, clock, sink)

    return Dependencies(clock, repository, checks)


deps = compose(get_settings())


def _number(value: Decimal | None) -> float | None:
    # Rates and throughput are measurements, not money: a JSON number is the natural form.
    return float(value) if value is not None else None


def _status(view: ProviderView | None) -> str:
    # No recorded check means nobody can vouch for the provider: shown as down, never as healthy.
    return view.record.status.value if view and view.record else HealthStatus.DOWN.value


def _overview() -> Overview:
    return overview(deps.repository, DEFAULT_ORDER)


@router.get("/api/v1/providers/health", summary="Each provider's recorded health")
def providers_health() -> Response[Any]:
    principal_from_event(router.current_event.raw_event)
    overview = _overview()
    listed = []
    for name, view in overview.providers.items():
        record = view.record
        listed.append(
            {
                "name": name,
                "status": _status(view),
                "latency": record.latency_ms if record else None,
                "successRate": _number(record.success_rate) if record else None,
            }
        )
    return ok({"providers": listed})


@router.get("/api/v2/provider-health/status", summary="Provider health and the current primary")
def provider_health_status() -> Response[Any]:
    principal_from_event(router.current_event.raw_event)
    overview = _overview()
    data: dict[str, Any] = {}
    for name in (TEMPO, CIRCLE):
        view = overview.providers.get(name)
        record = view.record if view else None
        data[name] = {
            "status": _status(view),
            "latency": record.latency_ms if record else None,
            "tps": _number(record.tps) if record else None,
            "error_rate": _number(record.error_rate) if record else None,
            "checked_at": iso(record.checked_at) if record else None,
            "circuit": view.breaker.phase.value if view else "closed",
        }
    data["primary"] = overview.primary.name if overview.primary else None
    data["timestamp"] = iso(deps.clock.now())
    return ok(data)


app = build_resolver()
app.include_router(router)


def _is_schedule(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def run_health_check() -> dict[str, Any]:
    overview = deps.checks().run()
    summary = {
        name: view.record.status.value if view.record else None for name, view in overview.providers.items()
    }
    result = {"checked": summary, "primary": overview.primary.name if overview.primary else None}
    logger.info("provider health recorded", extra=result)
    return result


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if _is_schedule(event):
        return run_health_check()
    return handle_api_event(app, event, context)
