"""The invoices function end to end on moto: envelope, roles, tenants, idempotency, state changes."""

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
    header,
    scan_all,
)

VALID = {
    "customer_id": "cus_alice",
    "currency": "USD",
    "line_items": [
        {"description": "Design work", "quantity": 3, "unit_price": "100.50", "tax_rate": 8.25},
        {"description": "Hosting ☁", "quantity": 1, "unit_price": 20},
    ],
    "due_date": "2030-01-31",
    "metadata": {"order": "A-17"},
}


@pytest.fixture
def invoices(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    import functions.invoices.handler as handler

    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    bootstrap.use(Adapters(get_settings(), dynamodb=dynamodb, clock=clock))
    yield handler


def call(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return dict(handler.lambda_handler(event, FakeLambdaContext()))


def create(handler: ModuleType, body: Any = VALID, **kwargs: Any) -> dict[str, Any]:
    return call(handler, api_event("POST", "/api/v1/invoices", body=body, **kwargs))


def test_create_computes_totals_and_numbers_sequentially(invoices: ModuleType) -> None:
    first = create(invoices)
    second = create(invoices)
    assert first["statusCode"] == 201
    invoice = body_of(first)["data"]["invoice"]
    assert invoice["number"] == "INV-00001"
    assert body_of(second)["data"]["invoice"]["number"] == "INV-00002"
    assert invoice["subtotal"] == "321.50"
    assert invoice["tax_amount"] == "24.87"  # 301.50 * 8.25% = 24.87375 -> 24.87
    assert invoice["total_amount"] == "346.37"
    assert invoice["amount_due"] == "346.37"
    assert invoice["amount_paid"] == "0.00"
    assert invoice["status"] == "draft"
    assert invoice["id"].startswith("inv_")
    assert header(first, "X-Request-ID")


def test_create_writes_invoice_counter_audit_and_outbox_in_one_go(
    invoices: ModuleType, dynamodb: Any
) -> None:
    invoice = body_of(create(invoices))["data"]["invoice"]
    items = scan_all(dynamodb)
    kinds = sorted(i["pk"]["S"].split("#")[0] + ":" + i["sk"]["S"].split("#")[0] for i in items)
    assert kinds == [
        "AUDIT:2030-01-01T00:00:00.000Z",
        "OUTBOX:EVENT",
        "SEQ:SEQ",
        "TENANT:COUNTER",
        "TENANT:INVOICE",
    ]
    outbox = next(i for i in items if i["pk"]["S"].startswith("OUTBOX#"))
    assert outbox["event_name"]["S"] == "invoice.created"
    assert [c["S"] for c in outbox["channels"]["L"]] == [f"invoice:{invoice['id']}", "admin"]
    assert outbox["data"]["M"]["tenant_id"]["S"] == "tenant-a"


def test_create_costs_one_read_and_one_write_round_trip(invoices: ModuleType, dynamodb: Any) -> None:
    """Beside the route's own read and write: the rate window's one conditional update, the tenant's
    limits read once (then cached for a minute), and the event's sequence counter read (BatchGetItem) that
    its conditional update in the same transaction is checked against."""
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    assert create(invoices)["statusCode"] == 201
    assert calls == ["GetItem", "UpdateItem", "GetItem", "BatchGetItem", "TransactWriteItems"]
    calls.clear()
    assert create(invoices)["statusCode"] == 201
    assert calls == ["UpdateItem", "GetItem", "BatchGetItem", "TransactWriteItems"]
    calls.clear()
    assert create(invoices, headers={"Idempotency-Key": "rt-1"})["statusCode"] == 201
    assert calls == ["UpdateItem", "PutItem", "GetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem"]


def test_get_list_and_roles(invoices: ModuleType) -> None:
    mine = body_of(create(invoices))["data"]["invoice"]
    bootstrap.app().invoices._clock.advance(seconds=1)
    other = body_of(create(invoices, body={**VALID, "customer_id": "cus_bob"}))["data"]["invoice"]
    path = f"/api/v1/invoices/{mine['id']}"
    assert body_of(call(invoices, api_event("GET", path)))["data"]["invoice"] == mine
    assert call(invoices, api_event("GET", path, principal=ADMIN))["statusCode"] == 200
    draft = call(invoices, api_event("GET", path, principal=CONSUMER))
    assert (draft["statusCode"], body_of(draft)["code"]) == (404, "not_found")  # drafts stay the merchant's
    drafts_only = body_of(call(invoices, api_event("GET", "/api/v1/invoices", principal=CONSUMER)))["data"]
    assert drafts_only["invoices"] == []
    assert call(invoices, api_event("POST", f"{path}/send"))["statusCode"] == 200
    mine = body_of(call(invoices, api_event("GET", path)))["data"]["invoice"]
    assert call(invoices, api_event("GET", path, principal=CONSUMER))["statusCode"] == 200
    hidden = call(invoices, api_event("GET", f"/api/v1/invoices/{other['id']}", principal=CONSUMER))
    assert (hidden["statusCode"], body_of(hidden)["code"]) == (404, "not_found")
    listed = body_of(call(invoices, api_event("GET", "/api/v1/invoices", principal=CONSUMER)))["data"]
    assert [i["id"] for i in listed["invoices"]] == [mine["id"]]
    everything = body_of(call(invoices, api_event("GET", "/api/v1/invoices")))["data"]
    assert [i["id"] for i in everything["invoices"]] == [other["id"], mine["id"]]
    forbidden = create(invoices, principal=CONSUMER)
    assert (forbidden["statusCode"], body_of(forbidden)["code"]) == (403, "forbidden")
    assert create(invoices, principal=ADMIN)["statusCode"] == 403


def test_other_tenant_sees_nothing(invoices: ModuleType) -> None:
    invoice = body_of(create(invoices))["data"]["invoice"]
    for method, suffix in (("GET", ""), ("POST", "/send"), ("POST", "/void"), ("DELETE", "")):
        response = call(
            invoices, api_event(method, f"/api/v1/invoices/{invoice['id']}{suffix}", principal=OTHER_MERCHANT)
        )
        assert (response["statusCode"], body_of(response)["code"]) == (404, "not_found")
    listed = body_of(call(invoices, api_event("GET", "/api/v1/invoices", principal=OTHER_MERCHANT)))
    assert listed["data"]["invoices"] == []


def test_missing_authorizer_context_is_401(invoices: ModuleType) -> None:
    response = call(invoices, api_event("GET", "/api/v1/invoices", principal=None))
    assert (response["statusCode"], body_of(response)["code"]) == (401, "unauthorized")


def test_pagination_with_cursor_and_status_filter(invoices: ModuleType) -> None:
    ids = [body_of(create(invoices))["data"]["invoice"]["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = body_of(call(invoices, api_event("GET", "/api/v1/invoices", query=query)))["data"]
        seen.extend(i["id"] for i in page["invoices"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    call(invoices, api_event("POST", f"/api/v1/invoices/{ids[0]}/send"))
    sent = body_of(call(invoices, api_event("GET", "/api/v1/invoices", query={"status": "sent"})))["data"]
    assert [i["id"] for i in sent["invoices"]] == [ids[0]]
    drafts = body_of(call(invoices, api_event("GET", "/api/v1/invoices", query={"status": "draft"})))["data"]
    assert len(drafts["invoices"]) == 4


@pytest.mark.parametrize(
    "cursor",
    ["not-base64!", "eyJ4IjoxfQ", "A" * 2000, "eyJwayI6IlRFTkFOVCN0ZW5hbnQtYiJ9"],
)
def test_tampered_cursor_is_400(invoices: ModuleType, cursor: str) -> None:
    response = call(invoices, api_event("GET", "/api/v1/invoices", query={"cursor": cursor}))
    assert (response["statusCode"], body_of(response)["code"]) == (400, "validation_error")


def test_cursor_of_another_tenant_is_refused(invoices: ModuleType) -> None:
    for _ in range(3):
        create(invoices)
    page = body_of(call(invoices, api_event("GET", "/api/v1/invoices", query={"limit": "1"})))["data"]
    assert page["next_cursor"]
    stolen = call(
        invoices,
        api_event("GET", "/api/v1/invoices", query={"cursor": page["next_cursor"]}, principal=OTHER_MERCHANT),
    )
    assert (stolen["statusCode"], body_of(stolen)["code"]) == (400, "validation_error")


def test_state_machine_over_http(invoices: ModuleType, dynamodb: Any) -> None:
    invoice_id = body_of(create(invoices))["data"]["invoice"]["id"]
    base = f"/api/v1/invoices/{invoice_id}"
    sent = call(invoices, api_event("POST", f"{base}/send"))
    assert body_of(sent)["data"]["invoice"]["status"] == "sent"
    assert body_of(sent)["data"]["invoice"]["sent_at"] == "2030-01-01T00:00:00.000Z"
    again = call(invoices, api_event("POST", f"{base}/send"))
    assert (again["statusCode"], body_of(again)["code"]) == (400, "invalid_state")
    undeletable = call(invoices, api_event("DELETE", base))
    assert (undeletable["statusCode"], body_of(undeletable)["code"]) == (400, "invalid_state")
    voided = call(invoices, api_event("POST", f"{base}/void"))
    assert body_of(voided)["data"]["invoice"]["status"] == "void"
    assert call(invoices, api_event("POST", f"{base}/void"))["statusCode"] == 400
    assert body_of(call(invoices, api_event("DELETE", base)))["data"] == {
        "id": invoice_id,
        "object": "invoice",
        "deleted": True,
    }
    draft_id = body_of(create(invoices))["data"]["invoice"]["id"]
    assert call(invoices, api_event("DELETE", f"/api/v1/invoices/{draft_id}"))["statusCode"] == 200
    for gone_id in (invoice_id, draft_id):
        for method, suffix in (("GET", ""), ("POST", "/send"), ("POST", "/void"), ("DELETE", "")):
            gone = call(invoices, api_event(method, f"/api/v1/invoices/{gone_id}{suffix}"))
            assert (gone["statusCode"], body_of(gone)["code"]) == (404, "not_found")
    assert body_of(call(invoices, api_event("GET", "/api/v1/invoices")))["data"]["invoices"] == []
    events = [i["event_name"]["S"] for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert sorted(events) == sorted(
        ["invoice.created"] * 2 + ["invoice.sent", "invoice.voided"] + ["invoice.deleted"] * 2
    )
    audits = [i for i in scan_all(dynamodb) if i["pk"]["S"] == f"AUDIT#{invoice_id}"]
    assert len(audits) == 4


def test_bulk_answers_404_until_its_issue(invoices: ModuleType) -> None:
    response = call(invoices, api_event("POST", "/api/v1/invoices/bulk", body={"invoices": []}))
    assert (response["statusCode"], body_of(response)["code"]) == (404, "not_found")


def test_idempotent_replay_reuse_and_scope(invoices: ModuleType, dynamodb: Any) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = create(invoices, headers=key)
    before = scan_all(dynamodb)
    replay = create(invoices, headers=key)
    assert replay["statusCode"] == 201
    assert body_of(replay) == body_of(first)
    assert header(replay, "Idempotent-Replayed") == "true"
    assert header(first, "Idempotent-Replayed") is None
    assert scan_all(dynamodb) == before
    reuse = create(invoices, body={**VALID, "customer_id": "cus_bob"}, headers=key)
    assert (reuse["statusCode"], body_of(reuse)["code"]) == (409, "idempotency_key_reuse")
    other_tenant = create(invoices, headers=key, principal=OTHER_MERCHANT)
    assert other_tenant["statusCode"] == 201
    assert header(other_tenant, "Idempotent-Replayed") is None
    assert body_of(other_tenant)["data"]["invoice"]["number"] == "INV-00001"
    record = [i for i in scan_all(dynamodb) if i["pk"]["S"] == f"IDEMPOTENCY#{get_settings().service_name}"]
    assert len(record) == 2 and all(int(i["ttl"]["N"]) > 0 for i in record)


def test_idempotency_in_progress(invoices: ModuleType) -> None:
    key = {"Idempotency-Key": "slow-1"}
    seen: dict[str, Any] = {}
    real_create = bootstrap.app().invoices.create

    def create_while_a_retry_arrives(principal: Any, request: Any) -> Any:
        seen["retry"] = create(invoices, headers=key)
        return real_create(principal, request)

    bootstrap.app().invoices.create = create_while_a_retry_arrives  # type: ignore[method-assign]
    try:
        first = create(invoices, headers=key)
    finally:
        bootstrap.app().invoices.create = real_create  # type: ignore[method-assign]
    assert first["statusCode"] == 201
    assert (seen["retry"]["statusCode"], body_of(seen["retry"])["code"]) == (409, "idempotency_in_progress")


@pytest.mark.parametrize("key", ["", "k" * 256, "naïve", "tab\tkey"])
def test_bad_idempotency_key_is_400_and_writes_nothing(invoices: ModuleType, dynamodb: Any, key: str) -> None:
    before = scan_all(dynamodb)
    response = create(invoices, headers={"Idempotency-Key": key})
    assert (response["statusCode"], body_of(response)["code"]) == (400, "validation_error")
    assert scan_all(dynamodb) == before


def test_cors_and_request_id(invoices: ModuleType) -> None:
    allowed = call(
        invoices,
        api_event(
            "GET", "/api/v1/invoices", headers={"Origin": "http://localhost:3002", "X-Request-ID": "abc-123"}
        ),
    )
    assert header(allowed, "Access-Control-Allow-Origin") == "http://localhost:3002"
    assert "Idempotency-Key" in (header(allowed, "Access-Control-Allow-Headers") or "")
    assert "X-Request-ID" in (header(allowed, "Access-Control-Expose-Headers") or "")
    assert header(allowed, "Vary") == "Origin"
    assert header(allowed, "X-Request-ID") == "abc-123"
    denied = call(
        invoices,
        api_event(
            "GET", "/api/v1/invoices", headers={"Origin": "https://evil.example", "X-Request-ID": "x y\n"}
        ),
    )
    assert header(denied, "Access-Control-Allow-Origin") is None
    assert header(denied, "X-Request-ID") not in (None, "x y\n")
    preflight = call(
        invoices, api_event("OPTIONS", "/api/v1/invoices", headers={"Origin": "http://localhost:3000"})
    )
    assert preflight["statusCode"] == 204
    assert header(preflight, "Access-Control-Allow-Origin") == "http://localhost:3000"


def test_unexpected_error_is_a_logged_500_envelope(
    invoices: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: Any, **__: Any) -> Any:
        raise KeyError("secret internals")

    monkeypatch.setattr(bootstrap.app().invoices, "list_invoices", explode)
    response = call(invoices, api_event("GET", "/api/v1/invoices"))
    assert response["statusCode"] == 500
    assert body_of(response) == {
        "success": False,
        "error": "internal error",
        "code": "internal_error",
        "details": [],
    }
