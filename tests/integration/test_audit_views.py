"""Audit and destruction-log views on moto: the tenant's entries with ip and request id, filters and pages,
logs verified on each read (a tampered record reads `verified: false`), other tenants' never shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from tests.integration import test_pay_destroy as pay_destroy
from tests.integration.conftest import (
    ADMIN,
    MERCHANT,
    OTHER_ADMIN,
    OTHER_MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
)
from tests.integration.test_invoices_api import VALID
from tests.integration.test_pay_destroy import Paying

# The pay tests' fixtures: moto, the stand-ins served in-process, a funded wallet's pay and destroy.
servers = pay_destroy.servers
env = pay_destroy.env
paying = pay_destroy.paying

CONTEXT = FakeLambdaContext(function_name="audit_views")


def views(event: dict[str, Any]) -> dict[str, Any]:
    import functions.audit_views.handler as handler

    return dict(handler.lambda_handler(event, CONTEXT))


def get(path: str, principal: dict[str, str] = ADMIN, **query: str) -> dict[str, Any]:
    return views(api_event("GET", path, principal=principal, query=query or None))


@pytest.fixture
def clock(dynamodb: Any) -> Iterator[FixedClock]:
    moment = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    bootstrap.use(Adapters(get_settings(), dynamodb=dynamodb, clock=moment))
    yield moment


def create_invoice(principal: dict[str, str], ip: str, request_id: str) -> str:
    import functions.invoices.handler as invoices

    event = api_event(
        "POST", "/api/v1/invoices", body=VALID, principal=principal, headers={"X-Request-ID": request_id}
    )
    event["requestContext"]["identity"] = {"sourceIp": ip}
    response = invoices.lambda_handler(event, FakeLambdaContext())
    assert response["statusCode"] == 201
    return str(body_of(response)["data"]["invoice"]["id"])


def send_invoice(invoice_id: str, principal: dict[str, str] = MERCHANT) -> None:
    import functions.invoices.handler as invoices

    event = api_event("POST", f"/api/v1/invoices/{invoice_id}/send", principal=principal)
    assert invoices.lambda_handler(event, FakeLambdaContext())["statusCode"] == 200


def test_audit_entries_carry_ip_and_request_id_and_filter_by_resource_actor_and_time(
    clock: FixedClock,
) -> None:
    first = create_invoice(MERCHANT, "203.0.113.7", "req-first")
    clock.advance(minutes=5)
    second = create_invoice({**MERCHANT, "sub": "merchant-2"}, "198.51.100.2", "req-second")
    # A second later: entries of one millisecond have no order between them (the sort key's tie-break is
    # the random audit id), so the send must come after the second invoice for the order asserted below.
    clock.advance(seconds=1)
    send_invoice(first)
    create_invoice(OTHER_MERCHANT, "192.0.2.1", "req-other")

    everything = body_of(get("/api/v1/audit"))["data"]
    assert [(e["action"], e["resource"]["id"]) for e in everything["entries"]] == [
        ("invoice.sent", first),
        ("invoice.created", second),
        ("invoice.created", first),
    ]
    created = everything["entries"][2]
    assert created["resource"] == {"type": "invoice", "id": first}
    assert (created["actor"], created["ip_address"], created["request_id"]) == (
        "merchant-1",
        "203.0.113.7",
        "req-first",
    )
    assert created["at"] == "2030-01-01T00:00:00.000Z"

    by_resource = body_of(get("/api/v1/audit", resource_id=first))["data"]["entries"]
    assert [e["action"] for e in by_resource] == ["invoice.sent", "invoice.created"]
    by_actor = body_of(get("/api/v1/audit", actor="merchant-2"))["data"]["entries"]
    assert [e["resource"]["id"] for e in by_actor] == [second]
    since = body_of(get("/api/v1/audit", since="2030-01-01T00:01:00Z"))["data"]["entries"]
    assert [e["action"] for e in since] == ["invoice.sent", "invoice.created"]

    page = body_of(get("/api/v1/audit", limit="2"))["data"]
    assert len(page["entries"]) == 2 and page["has_more"]
    rest = body_of(get("/api/v1/audit", limit="2", cursor=page["next_cursor"]))["data"]
    assert [e["resource"]["id"] for e in rest["entries"]] == [first] and not rest["has_more"]

    # The other tenant's admin sees its own entry only, and never tenant-a's, even by resource id.
    theirs = body_of(get("/api/v1/audit", principal=OTHER_ADMIN))["data"]["entries"]
    assert [e["request_id"] for e in theirs] == ["req-other"]
    assert body_of(get("/api/v1/audit", principal=OTHER_ADMIN, resource_id=first))["data"]["entries"] == []
    # A cursor of another list is refused.
    foreign = get("/api/v1/audit", principal=OTHER_ADMIN, cursor=page["next_cursor"])
    assert (foreign["statusCode"], body_of(foreign)["code"]) == (400, "validation_error")


@pytest.mark.parametrize(
    ("principal", "query", "status"),
    [
        (MERCHANT, {}, 403),
        (ADMIN, {"since": "yesterday"}, 400),
        (ADMIN, {"since": "2030-01-01T00:00:00"}, 400),
        (ADMIN, {"limit": "0"}, 400),
        (ADMIN, {"resource_id": "inv#x"}, 400),
        (ADMIN, {"cursor": "not-a-cursor"}, 400),
    ],
)
def test_audit_refuses_other_roles_and_bad_queries(
    clock: FixedClock, principal: dict[str, str], query: dict[str, str], status: int
) -> None:
    assert get("/api/v1/audit", principal=principal, **query)["statusCode"] == status


def test_destruction_logs_are_listed_and_verified_on_each_read(paying: Paying) -> None:
    wallet_id = paying.funded_wallet()
    assert paying.pay(wallet_id)["statusCode"] == 200
    listed = body_of(get("/api/v2/destruction-logs"))["data"]
    [log] = listed["destruction_logs"]
    assert (log["wallet_id"], log["verified"], log["method"]) == (wallet_id, True, "crypto_erase")
    assert log["facts"]["reason"] == "paid"
    one = get(f"/api/v2/destruction-logs/{wallet_id}")
    assert body_of(one)["data"] == log

    # Another tenant's admin: 404 and an empty list; a merchant: 403.
    assert get(f"/api/v2/destruction-logs/{wallet_id}", principal=OTHER_ADMIN)["statusCode"] == 404
    assert body_of(get("/api/v2/destruction-logs", principal=OTHER_ADMIN))["data"]["destruction_logs"] == []
    assert get("/api/v2/destruction-logs", principal=MERCHANT)["statusCode"] == 403
    assert get("/api/v2/destruction-logs/wal_nope")["statusCode"] == 404

    # The stored record altered after the fact no longer verifies.
    tampered = log["record"].replace('"reason":"paid"', '"reason":"expired"')
    paying.env.dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "DESTRUCTIONLOG"}},
        UpdateExpression="SET #r = :r",
        ExpressionAttributeNames={"#r": "record"},
        ExpressionAttributeValues={":r": {"S": tampered}},
    )
    again = body_of(get(f"/api/v2/destruction-logs/{wallet_id}"))["data"]
    assert again["verified"] is False and again["record"] == tampered
