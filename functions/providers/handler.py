"""Providers function: the scheduled health check, and the two provider-health views from recorded health."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import caller, ok, rest_function
from shared.bootstrap import app as capabilities
from shared.outbox.records import iso
from shared.providers.models import CIRCLE, DEFAULT_ORDER, TEMPO, HealthStatus
from shared.providers.service import Overview, ProviderView, overview

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


def _number(value: Decimal | None) -> float | None:
    # Rates and throughput are measurements, not money: a JSON number is the natural form.
    return float(value) if value is not None else None


def _status(view: ProviderView | None) -> str:
    # No recorded check means nobody can vouch for the provider: shown as down, never as healthy.
    return view.record.status.value if view and view.record else HealthStatus.DOWN.value


def _overview() -> Overview:
    return overview(capabilities().provider_health, DEFAULT_ORDER)


@router.get("/api/v1/providers/health", summary="Each provider's recorded health")
def providers_health() -> Response[Any]:
    caller(router)
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
    caller(router)
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
    data["timestamp"] = iso(capabilities().adapters.clock.now())
    return ok(data)


app, handle_api_request = rest_function(router)


def _is_schedule(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def run_health_check() -> dict[str, Any]:
    overview = capabilities().provider_checks.run()
    summary = {
        name: view.record.status.value if view.record else None for name, view in overview.providers.items()
    }
    result = {"checked": summary, "primary": overview.primary.name if overview.primary else None}
    logger.info("provider health recorded", extra=result)
    return result


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if _is_schedule(event):
        return run_health_check()
    return handle_api_request(event, context)
