"""Realtime function: WebSocket routes, bus events fanned out to subscribers, the countdown tick."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared.auth import principal_from_event
from shared.bootstrap import app as capabilities
from shared.errors import Unauthorized
from shared.outbox.publisher import EVENT_SOURCE, BusEventDetail
from shared.realtime.ports import Viewer
from shared.realtime.service import FanOutReport

logger = Logger()
metrics = Metrics()


def _viewer(event: dict[str, Any]) -> Viewer:
    # A payment-link connection is let in here and confined to its invoice by the realtime service.
    principal = principal_from_event(event, allow_link=True)
    link_invoice_id = (event["requestContext"].get("authorizer") or {}).get("link_invoice_id")
    return Viewer(principal.sub, principal.tenant_id, principal.roles, link_invoice_id or None)


def _websocket(event: dict[str, Any]) -> dict[str, Any]:
    context = event["requestContext"]
    route, connection_id = context["routeKey"], context["connectionId"]
    service = capabilities().realtime
    if route == "$connect":
        try:
            service.connect(connection_id, _viewer(event))
        except Unauthorized:
            metrics.add_metric(name="WebSocketConnectRefused", unit=MetricUnit.Count, value=1)
            return {"statusCode": 403}
        metrics.add_metric(name="WebSocketConnected", unit=MetricUnit.Count, value=1)
        return {"statusCode": 200}
    if route == "$disconnect":
        service.disconnect(connection_id)
        metrics.add_metric(name="WebSocketDisconnected", unit=MetricUnit.Count, value=1)
        return {"statusCode": 200}
    reply = service.handle_message(connection_id, event.get("body"))
    if reply["event"] == "error":
        metrics.add_metric(name="WebSocketMessagesRefused", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="WebSocketMessagesHandled", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": json.dumps(reply, separators=(",", ":"))}


def _record(report: FanOutReport) -> dict[str, Any]:
    """The pushes' outcome, as metrics and as the invocation's answer."""
    metrics.add_metric(name="PushDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="PushGone", unit=MetricUnit.Count, value=report.gone)
    metrics.add_metric(name="PushFailed", unit=MetricUnit.Count, value=report.failed)
    summary = {"delivered": report.delivered, "gone": report.gone, "failed": report.failed}
    if report.heartbeats:
        metrics.add_metric(name="Heartbeats", unit=MetricUnit.Count, value=report.heartbeats)
        summary["heartbeats"] = report.heartbeats
    return summary


def _fan_out(event: EventBridgeEvent) -> dict[str, Any]:
    try:
        detail = BusEventDetail.model_validate(event.detail)
    except ValidationError:
        # Redelivery cannot fix a malformed event; log it for the on-call and drop it.
        logger.exception("malformed bus event", extra={"event_id": event.get_id})
        return {"delivered": 0, "malformed": True}
    report = capabilities().realtime.fan_out(detail)
    summary = _record(report)
    extra = {
        "event_id": detail.event_id,
        **summary,
        "withheld": report.withheld,
        "duplicate": report.duplicate,
    }
    logger.info("fan-out", extra=extra)
    return summary


def _tick(event: dict[str, Any]) -> dict[str, Any]:
    # The rule's scheduled minute picks the heartbeat bucket (EventBridge sets `time` to it).
    try:
        scheduled = datetime.fromisoformat(str(event.get("time")))
    except ValueError:
        scheduled = None
    return _record(capabilities().realtime.tick(scheduled))


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "routeKey" in (event.get("requestContext") or {}):
        return _websocket(event)
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        return _tick(event)
    if event.get("source") == EVENT_SOURCE:
        return _fan_out(EventBridgeEvent(event))
    raise ValueError("realtime: unrecognised event shape")
