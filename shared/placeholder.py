"""Functions whose issue has not landed: every route answers the contract's 404, other events are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from shared.api import build_resolver, handle_api_event

logger = Logger()


class NotBuiltYet(RuntimeError):
    """A non-HTTP trigger reached a function that cannot honour it yet; failing keeps it visible."""


def placeholder_handler(function: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A `lambda_handler` for `function`: API events get 404 `not_found`, never made-up data."""
    app = build_resolver()

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "httpMethod" in event:
            return handle_api_event(app, event, context)
        logger.error("trigger reached an unbuilt function", extra={"function": function})
        raise NotBuiltYet(f"{function} cannot handle {event.get('detail-type') or 'this event'} yet")

    return lambda_handler
