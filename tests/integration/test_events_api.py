"""The events function on moto: the history that invoice changes leave, its filters (each a Query),
cursors, typed answers, roles, and another tenant's events as 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from tests.integration.conftest import (
    ADMIN,
    CONSUMER,
    OTHER_MERCHANT,
    FakeLambdaContext,
    api_event,
    body_of,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
INVOICE = {
    "customer_id": "cus_alice",
    "currency": "USD",
    "line_items": [{"description": "Work", "quantity": 1, "unit_price": "10.00"}],
    "due_date": "2030-01-31",
}


class World:
    def __init__(self, dynamodb: Any) -> None:
        import functions.events.handler as events
        import functions.invoices.handler as invoices

        self.events, self.invoices = events, invoices
        self.clock = FixedClock(T0)
        bootstrap.use(Adapters(get_settings(), dynamodb=dynamodb, clock=self.clock))

    def call(self, handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
        return dict(handler.lambda_handler(event, FakeLambdaContext()))

    def invoice(self, **kwargs: Any) -> str:
        response = self.call(self.invoices, api_event("POST", "/api/v1/invoices", body=INVOICE, **kwargs))
        assert response["statusCode"] == 201
        return str(body_of(response)["data"]["invoice"]["id"])

    def send(self, invoice_id: str) -> None:
        response = self.call(self.invoices, api_event("POST", f"/api/v1/invoices/{invoice_id}/send"))
        assert response["statusCode"] == 200

    def list(self, **kwargs: Any) -> dict[str, Any]:
        return self.call(self.events, api_event("GET", "/api/v1/events", **kwargs))

    def get(self, event_id: str, **kwargs: Any) -> dict[str, Any]:
        return self.call(self.events, api_event("GET", f"/api/v1/events/{event_id}", **kwargs))


@pytest.fixture
def world(dynamodb: Any) -> Iterator[World]:
    yield World(dynamodb)


def test_invoice_changes_are_kept_with_their_resource_and_sequence(world: World) -> None:
    first = world.invoice()
    world.clock.advance(minutes=1)
    world.send(first)
    world.clock.advance(minutes=1)
    second = world.invoice()

    response = world.list()
    assert response["statusCode"] == 200
    page = body_of(response)
    assert page["success"] is True
    events = page["data"]["events"]
    assert [(e["type"], e["resource"]["id"], e["sequence"]) for e in events] == [
        ("invoice.created", second, 1),
        ("invoice.sent", first, 2),
        ("invoice.created", first, 1),
    ]
    assert events[0]["resource"] == {"type": "invoice", "id": second}
    assert events[0]["created_at"] == "2030-01-01T00:02:00.000Z"
    assert events[0]["data"]["invoice_id"] == second
    assert page["data"]["has_more"] is False and page["data"]["next_cursor"] is None

    by_resource = body_of(world.list(query={"resource_id": first}))["data"]["events"]
    assert [e["sequence"] for e in by_resource] == [2, 1]
    by_type = body_of(world.list(query={"type": "invoice.sent"}))["data"]["events"]
    assert [e["resource"]["id"] for e in by_type] == [first]
    window = {"created_gte": "2030-01-01T00:01:00Z", "created_lt": "2030-01-01T00:02:00Z"}
    assert [e["type"] for e in body_of(world.list(query=window))["data"]["events"]] == ["invoice.sent"]
    typed_window = {**window, "type": "invoice.created"}
    assert body_of(world.list(query=typed_window))["data"]["events"] == []
    resource_window = {"resource_id": first, "created_gte": "2030-01-01T00:01:00Z"}
    assert [e["sequence"] for e in body_of(world.list(query=resource_window))["data"]["events"]] == [2]

    one = world.get(events[1]["id"])
    assert one["statusCode"] == 200
    assert body_of(one)["data"] == events[1]


def test_pages_follow_the_cursor_without_repeats(world: World) -> None:
    made = []
    for _ in range(5):
        made.append(world.invoice())
        world.clock.advance(seconds=1)
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        data = body_of(world.list(query=query))["data"]
        seen += [e["resource"]["id"] for e in data["events"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_another_tenants_event_is_not_found_and_not_listed(world: World) -> None:
    world.invoice()
    event_id = body_of(world.list())["data"]["events"][0]["id"]
    response = world.get(event_id, principal=OTHER_MERCHANT)
    assert response["statusCode"] == 404
    assert body_of(response)["code"] == "not_found"
    assert body_of(world.list(principal=OTHER_MERCHANT))["data"]["events"] == []
    assert world.get(event_id, principal=ADMIN)["statusCode"] == 200
    assert world.get("evt_nope")["statusCode"] == 404


def test_roles_and_bad_filters_are_refused(world: World) -> None:
    assert body_of(world.list(principal=CONSUMER))["code"] == "forbidden"
    backwards = {"created_gte": "2030-01-02T00:00:00Z", "created_lt": "2030-01-01T00:00:00Z"}
    for query in (backwards, {"limit": "0"}, {"limit": "101"}, {"cursor": "bogus!"}, {"created_gte": "x"}):
        response = world.list(query=query)
        assert response["statusCode"] == 400, query
        assert body_of(response)["code"] == "validation_error"
    other_cursor = body_of(world.list(query={"limit": "1"}))["data"]["next_cursor"]
    assert other_cursor is None  # nothing yet: a foreign cursor is tried below
    world.invoice()
    world.invoice()
    cursor = body_of(world.list(query={"limit": "1"}))["data"]["next_cursor"]
    foreign = world.list(principal=OTHER_MERCHANT, query={"cursor": cursor})
    assert foreign["statusCode"] == 400
