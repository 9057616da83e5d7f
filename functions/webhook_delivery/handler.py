"""Webhook delivery function: fans each domain event from the bus out to the tenant's endpoints, runs the
attempts its retry timers (Scheduler `at()`) ask for, and serves the delivery log and redelivery routes.

A timer or bus invocation that fails raises, so EventBridge and Scheduler retry it and then dead-letter it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.adapters.timers import WEBHOOK_RETRY
from shared.api import Answer, caller, ok, rest_function
from shared.bootstrap import app as capabilities
from shared.models import deliveries as m
from shared.outbox.publisher import EVENT_SOURCE, BusEventDetail

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()


@router.get(
    "/api/v1/webhook-endpoints/<endpoint_id>/deliveries", summary="An endpoint's deliveries, newest first"
)
def deliveries(
    endpoint_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Answer[m.DeliveryPageOut]:
    page = capabilities().webhook_delivery.deliveries(caller(router), endpoint_id, limit, cursor)
    return ok(m.DeliveryPageOut.from_record(page))


@router.post("/api/v1/webhook-deliveries/<delivery_id>/redeliver", summary="Send one delivery's event again")
def redeliver(delivery_id: str) -> Answer[m.DeliveryOut]:
    delivery = capabilities().webhook_delivery.redeliver(caller(router), delivery_id)
    return ok(m.DeliveryOut.from_record(delivery))


@router.post(
    "/api/v1/webhook-endpoints/<endpoint_id>/redeliver",
    summary="Send every event of [since, until) again (at most 30 days), each as a new delivery",
)
def redeliver_range(endpoint_id: str, body: m.RedeliverRange) -> Answer[m.DeliveryListOut]:
    started = capabilities().webhook_delivery.redeliver_range(
        caller(router), endpoint_id, body.since, body.until
    )
    return ok(m.DeliveryListOut(deliveries=[m.DeliveryOut.from_record(d) for d in started]))


app, rest_handler = rest_function(router, metrics=metrics)


def fan_out(detail: BusEventDetail) -> dict[str, Any]:
    tenant = detail.tenant_id
    event = capabilities().webhook_delivery.history_event(tenant, detail.event_id) if tenant else None
    if event is None:
        return {"deliveries": 0}
    return {"deliveries": len(capabilities().webhook_delivery.fan_out(event))}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    capabilities().adapters.webhook_timers_invoke(getattr(context, "invoked_function_arn", "") or "")
    if "httpMethod" in event:
        return rest_handler(event, context)
    if event.get("source") == EVENT_SOURCE and isinstance(event.get("detail"), dict):
        return fan_out(BusEventDetail.model_validate(event["detail"]))
    delivery_id = event.get(WEBHOOK_RETRY.input_key)
    if isinstance(delivery_id, str) and delivery_id.startswith("whd_"):
        return capabilities().webhook_delivery.attempt(delivery_id).to_api()
    logger.error("an invocation this function does not know", extra={"keys": sorted(event)})
    return {"result": "ignored"}
