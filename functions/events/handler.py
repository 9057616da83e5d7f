"""Events function: a merchant's or admin's own event history (`GET /api/v1/events`, `/api/v1/events/{id}`),
kept 90 days with per-resource sequences (shared/events)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, Moment, caller, moment, ok, rest_function
from shared.bootstrap import app as capabilities
from shared.models.events import EventOut, EventPageOut

metrics = Metrics()
router = APIGatewayRouter()


@router.get(
    "/api/v1/events",
    summary="The tenant's events of the last 90 days, newest first",
    responses={
        200: {"description": "a page of events"},
        400: {"description": "validation_error (bad filter, created_gte not before created_lt)"},
    },
)
def list_events(
    type: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    resource_id: Annotated[
        str | None, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:.@+-]+$")
    ] = None,
    created_gte: Moment = None,
    created_lt: Moment = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Answer[EventPageOut]:
    page = capabilities().events.list_events(
        caller(router),
        type=type,
        resource_id=resource_id,
        created_gte=moment(created_gte, "created_gte"),
        created_lt=moment(created_lt, "created_lt"),
        limit=limit,
        cursor=cursor,
    )
    return ok(EventPageOut.from_record(page))


@router.get("/api/v1/events/<event_id>", summary="Read one of the tenant's events")
def get_event(event_id: str) -> Answer[EventOut]:
    return ok(EventOut.from_record(capabilities().events.get_event(caller(router), event_id)))


app, lambda_handler = rest_function(router, metrics=metrics)
