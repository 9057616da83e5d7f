"""Providers function: the scheduled health check, the provider-health views and the history (operator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, ok, page_of, rest_function
from shared.bootstrap import app as capabilities
from shared.providers.output import ProviderHealthStatus, ProviderHistoryPage, ProvidersHealth

if TYPE_CHECKING:
    from shared.providers.service import Overview

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


def _overview() -> Overview:
    # The health service and its views load with a route that reads them, not at init (the scheduled check
    # builds its own through the composition root).
    from shared.providers.models import DEFAULT_ORDER
    from shared.providers.service import overview

    return overview(capabilities().provider_health, DEFAULT_ORDER)


@router.get(
    "/api/v1/providers/health",
    summary="Each provider's recorded health",
    description="`status` is healthy, degraded or down as last checked; `unknown` before the first check "
    "(as in /api/v2/provider-health/status), since an unchecked provider is not known to be down.",
)
def providers_health() -> Answer[ProvidersHealth]:
    from shared.providers.views import health_list

    caller(router)
    return ok(ProvidersHealth.of(health_list(_overview())))


@router.get(
    "/api/v2/provider-health/status",
    summary="Provider health and the current primary",
    description="Before the first check a provider is `unknown` and `primary` is the one calls would use "
    "now: the first of the configured order whose circuit is not open.",
)
def provider_health_status() -> Answer[ProviderHealthStatus]:
    from shared.providers.views import health_status

    caller(router)
    return ok(ProviderHealthStatus.of(health_status(_overview(), capabilities().adapters.clock.now())))


@router.get(
    "/api/v2/provider-health/history",
    summary="Every provider check and primary change, newest first (operator)",
)
def provider_health_history(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Answer[ProviderHistoryPage]:
    from shared.providers.service import provider_history
    from shared.providers.views import history_entry

    page = provider_history(caller(router), capabilities().provider_history, limit, cursor)
    history = [history_entry(entry) for entry in page.items]
    return ok(ProviderHistoryPage.of(page_of("history", history, page.next_cursor)))


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
