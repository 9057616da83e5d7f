"""GET /health: 200 when every dependency answers, else 503 with each dependency's check."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, error_response, ok, rest_function
from shared.bootstrap import app as capabilities
from shared.errors import DependencyUnavailable
from shared.health.output import HealthOut

logger = Logger()
router = APIGatewayRouter()


@router.get("/health", summary="Liveness and dependency checks")
def get_health() -> Answer[HealthOut]:
    report = capabilities().health.report()
    if report.healthy:
        return ok(HealthOut(status="ok", checks=report.checks))
    details = [
        {"field": name, "message": result, "type": "dependency_check"}
        for name, result in report.checks.items()
    ]
    logger.warning("unhealthy", extra={"checks": report.checks})
    return error_response(DependencyUnavailable("a dependency is unhealthy", details))


app, lambda_handler = rest_function(router)
