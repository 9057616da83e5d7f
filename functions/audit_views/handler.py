"""Audit views function: the tenant's audit trail and its destruction logs, for its admins (read only)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, Moment, caller, moment, ok, rest_function
from shared.bootstrap import app as capabilities
from shared.models.common import IDENTIFIER_PATTERN
from shared.models.enterprise import AuditPageOut, DestructionLogOut, DestructionLogPageOut

metrics = Metrics()
router = APIGatewayRouter()

Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=1024)]


@router.get(
    "/api/v1/audit",
    summary="The tenant's audit entries, newest first (admin)",
)
def audit_entries(
    resource_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=128, pattern=r"^[^#\s]+$")] = None,
    since: Moment = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Answer[AuditPageOut]:
    page = capabilities().enterprise_views.audit(
        caller(router),
        resource_id=resource_id,
        actor=actor,
        since=moment(since, "since"),
        limit=limit,
        cursor=cursor,
    )
    return ok(page.model_dump(mode="json"))


@router.get(
    "/api/v2/destruction-logs",
    summary="The tenant's destruction logs, newest first, each verified now (admin)",
)
def destruction_logs(limit: Limit = 50, cursor: Cursor = None) -> Answer[DestructionLogPageOut]:
    page = capabilities().enterprise_views.destruction_logs(caller(router), limit=limit, cursor=cursor)
    return ok(page.model_dump(mode="json"))


@router.get(
    "/api/v2/destruction-logs/<wallet_id>",
    summary="One wallet's destruction log, verified now (admin)",
)
def destruction_log(wallet_id: str) -> Answer[DestructionLogOut]:
    log = capabilities().enterprise_views.destruction_log(caller(router), wallet_id)
    return ok(log.model_dump(mode="json"))


app, lambda_handler = rest_function(router, metrics=metrics)
