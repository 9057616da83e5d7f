"""The realtime function's edge: a WebSocket route event, a bus event or the minute's tick turned into the
realtime service's call, and its outcome into the function's metrics and answer (as shared/api is the REST
functions' edge)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from shared.auth import principal_from_event
from shared.errors import Unauthorized
from shared.outbox.publisher import EVENT_SOURCE, BusEventDetail
from shared.realtime.ports import Viewer

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

    from shared.realtime.service import FanOutReport, RealtimeService

logger = Logger()


def is_tick(event: dict[str, Any]) -> bool:
    """The countdown rule's scheduled event (EventBridge's own source), not a bus event of ours."""
    return event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events"


def is_bus_event(event: dict[str, Any]) -> bool:
    """One of our own domain events, put on the bus by the stream consumer (shared/outbox/publisher.py)."""
    return event.get("source") == EVENT_SOURCE


def viewer_of(event: dict[str, Any]) -> Viewer:
    # A payment-link connection is let in here and confined to its invoice by the realtime service.
    principal = principal_from_event(event, allow_link=True)
    link_invoice_id = (event["requestContext"].get("authorizer") or {}).get("link_invoice_id")
    return Viewer(principal.sub, principal.tenant_id, principal.roles, link_invoice_id or None)


def websocket_route(event: dict[str, Any], service: RealtimeService, metrics: Metrics) -> dict[str, Any]:
    """`$connect` (403 when the caller may not connect), `$disconnect`, or a client's message answered."""
    context = event["requestContext"]
    route, connection_id = context["routeKey"], context["connectionId"]
    if route == "$connect":
        try:
            service.connect(connection_id, viewer_of(event))
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


def record(report: FanOutReport, metrics: Metrics) -> dict[str, Any]:
    """The pushes' outcome, as metrics and as the invocation's answer."""
    metrics.add_metric(name="PushDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="PushGone", unit=MetricUnit.Count, value=report.gone)
    metrics.add_metric(name="PushFailed", unit=MetricUnit.Count, value=report.failed)
    summary = {"delivered": report.delivered, "gone": report.gone, "failed": report.failed}
    if report.heartbeats:
        metrics.add_metric(name="Heartbeats", unit=MetricUnit.Count, value=report.heartbeats)
        summary["heartbeats"] = report.heartbeats
    return summary


def fan_out(event: EventBridgeEvent, service: RealtimeService, metrics: Metrics) -> dict[str, Any]:
    """A bus event pushed to its channels' subscribers; a malformed one logged and dropped."""
    try:
        detail = BusEventDetail.model_validate(event.detail)
    except ValidationError:
        # Redelivery cannot fix a malformed event; log it for the on-call and drop it.
        logger.exception("malformed bus event", extra={"event_id": event.get_id})
        return {"delivered": 0, "malformed": True}
    report = service.fan_out(detail)
    summary = record(report, metrics)
    extra = {
        "event_id": detail.event_id,
        **summary,
        "withheld": report.withheld,
        "duplicate": report.duplicate,
    }
    logger.info("fan-out", extra=extra)
    return summary


def tick(event: dict[str, Any], service: RealtimeService, metrics: Metrics) -> dict[str, Any]:
    """The minute's countdown updates and heartbeats."""
    # The rule's scheduled minute picks the heartbeat bucket (EventBridge sets `time` to it).
    try:
        scheduled = datetime.fromisoformat(str(event.get("time")))
    except ValueError:
        scheduled = None
    return record(service.tick(scheduled), metrics)
