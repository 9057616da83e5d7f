"""The event log: every state change the stand-in made, as GET /v1/events serves it."""

from __future__ import annotations

from typing import Any

from local.stripe import params as p
from local.stripe.errors import no_such
from local.stripe.state import RequestContext, Store


def get_event(store: Store, ctx: RequestContext, params: dict[str, Any], event_id: str) -> dict[str, Any]:
    event = store.get(event_id, "event")
    if event is None:
        raise no_such("event", event_id)
    return event


def list_events(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params, ("type", "types", "limit", "starting_after", "ending_before", "created", "delivery_success")
    )
    items = store.find("event", type=params.get("type"))
    types = p.string_list(params, "types")
    if types:
        items = [event for event in items if event["type"] in types]
    return store.page(items, params, "/v1/events")
