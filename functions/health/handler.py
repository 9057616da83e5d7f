"""GET /health: 200 when every dependency answers, else 503 with each dependency's check."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.adapters.dynamodb_health import table_check
from shared.adapters.dynamodb_table import PROBE_CONFIG, dynamodb_client
from shared.api import build_resolver, error_response, handle_api_event, ok
from shared.clock import Clock, ScaledClock
from shared.config import Settings, get_settings
from shared.errors import DependencyUnavailable
from shared.health.service import HealthService

logger = Logger()
router = APIGatewayRouter()


def compose(settings: Settings, client: Any = None, clock: Clock | None = None) -> HealthService:
    client = client or dynamodb_client(settings.aws_region, PROBE_CONFIG)
    clock = clock or ScaledClock(settings.clock_speed, settings.clock_origin)
    return HealthService({"table": table_check(client, settings.table_name)}, clock)


health = compose(get_settings())


@router.get("/health", summary="Liveness and dependency checks")
def get_health() -> Response[Any]:
    report = health.report()
    if report.healthy:
        return ok({"status": "ok", "checks": report.checks})
    details = [
        {"field": name, "message": result, "type": "dependency_check"}
        for name, result in report.checks.items()
    ]
    logger.warning("unhealthy", extra={"checks": report.checks})
    return error_response(DependencyUnavailable("a dependency is unhealthy", details))


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_api_event(app, event, context)
