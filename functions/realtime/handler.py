"""Realtime function: WebSocket routes, bus events fanned out to subscribers, the countdown tick. What each
event means to the realtime service, and the metrics of its outcome, is shared/realtime/edge.py."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.bootstrap import app as capabilities
from shared.realtime.edge import fan_out, is_bus_event, is_tick, tick, websocket_route

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "routeKey" in (event.get("requestContext") or {}):
        return websocket_route(event, capabilities().realtime, metrics)
    if is_tick(event):
        return tick(event, capabilities().realtime, metrics)
    if is_bus_event(event):
        return fan_out(EventBridgeEvent(event), capabilities().realtime, metrics)
    raise ValueError("realtime: unrecognised event shape")
