"""The real system through the local runtime, started as `make run` does: invoices, auth, realtime."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningRuntime, wait_for
from tests.e2e.system import auth, create_invoice, invoice_body, project_system, token

pytestmark = pytest.mark.e2e

ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    # A system of its own: "writes nothing" compares the whole table before and after a request, which the
    # background work other files leave behind on a shared system would move.
    with project_system(tmp_path_factory.mktemp("system"), own=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=30) as client:
        yield client


create = create_invoice


# Written by background work (realtime fan-out dedupe, WebSocket connections of other tests) or by the rate
# limiter metering every admitted request (a window count, not a resource), never as a resource by a
# REST request: a bad-input check compares everything else.
# Written by realtime fan-out, connections, rate windows and the scheduled provider health check (its
# PROVIDER# records and PROVIDERHISTORY; its status-change events still land in the outbox).
BACKGROUND_PREFIXES = ("FANOUT#", "CONN#", "RATE#", "PROVIDER")


def _background(item: dict[str, Any]) -> bool:
    """Written by the runtime's own schedules and connections, not by a request: the provider health check's
    records, its `provider.statusChange` events and their sequence counters, socket and rate bookkeeping."""
    key = item["pk"]["S"]
    provider_event = item.get("resource_type", {}).get("S") == "provider"
    provider_counter = key.startswith("SEQ#") and "#provider#" in key
    about_a_provider = provider_event or provider_counter
    return key.startswith(BACKGROUND_PREFIXES) or about_a_provider


def table_items(system: RunningRuntime) -> list[dict[str, Any]]:
    """Every item a request could have written, in a stable order."""
    client = system.aws("dynamodb")
    name = next(n for n in client.list_tables()["TableNames"] if "WalletsTable" in n)
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        items.extend(i for i in page["Items"] if not _background(i))
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def test_health_answers_with_each_dependency(http: httpx.Client) -> None:
    answer = http.get("/health")
    assert answer.status_code == 200
    assert answer.json()["success"] is True
    assert answer.json()["data"]["checks"]["table"] == "ok"


def test_invoice_lifecycle(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = system.tokens["merchant"]
    created = create(http, merchant)
    assert created.status_code == 201, created.text
    invoice = created.json()["data"]["invoice"]
    assert invoice["number"].startswith("INV-") and len(invoice["number"]) == 9
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total_amount"]) == (
        "319.99",
        "24.75",
        "344.74",
    )
    assert invoice["amount_due"] == "344.74" and invoice["status"] == "draft"
    assert created.headers["X-Request-ID"]

    path = f"/api/v1/invoices/{invoice['id']}"
    assert http.get(path, headers=auth(merchant)).json()["data"]["invoice"]["id"] == invoice["id"]
    listed = http.get("/api/v1/invoices", params={"status": "draft", "limit": 100}, headers=auth(merchant))
    assert invoice["id"] in [i["id"] for i in listed.json()["data"]["invoices"]]

    sent = http.post(f"{path}/send", headers=auth(merchant))
    assert sent.status_code == 200 and sent.json()["data"]["invoice"]["status"] == "sent"
    again = http.post(f"{path}/send", headers=auth(merchant))
    assert again.status_code == 400 and again.json()["code"] == "invalid_state"
    refused = http.delete(path, headers=auth(merchant))
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_state"
    voided = http.post(f"{path}/void", headers=auth(merchant))
    assert voided.json()["data"]["invoice"]["status"] == "void"
    assert http.delete(path, headers=auth(merchant)).status_code in (200, 204)
    gone = http.get(path, headers=auth(merchant))
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_twenty_concurrent_creates_get_unique_gapless_numbers(
    system: RunningRuntime, http: httpx.Client
) -> None:
    bearer = token(system, tenant_id="ten_concurrency")
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: create(http, bearer), range(20)))
    assert [a.status_code for a in answers] == [201] * 20
    numbers = sorted(int(a.json()["data"]["invoice"]["number"].removeprefix("INV-")) for a in answers)
    assert numbers == list(range(1, 21))


def test_idempotent_replay_and_key_reuse(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = system.tokens["merchant"]
    headers = auth(merchant, **{"Idempotency-Key": "e2e-replay-1"})
    first = http.post("/api/v1/invoices", json=invoice_body(), headers=headers)
    second = http.post("/api/v1/invoices", json=invoice_body(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = http.post("/api/v1/invoices", json=invoice_body(currency="EUR"), headers=headers)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reuse"
    # The key is scoped to the caller: another merchant's identical key is a new request.
    other = auth(token(system, sub="usr_other_merchant"), **{"Idempotency-Key": "e2e-replay-1"})
    fresh = http.post("/api/v1/invoices", json=invoice_body(), headers=other)
    assert (
        fresh.status_code == 201
        and fresh.json()["data"]["invoice"]["id"] != first.json()["data"]["invoice"]["id"]
    )


def test_another_tenants_invoice_is_not_found(system: RunningRuntime, http: httpx.Client) -> None:
    invoice = create(http, system.tokens["merchant"]).json()["data"]["invoice"]
    stranger = token(system, tenant_id="ten_stranger")
    for method, suffix in (("GET", ""), ("POST", "/send"), ("POST", "/void"), ("DELETE", "")):
        answer = http.request(method, f"/api/v1/invoices/{invoice['id']}{suffix}", headers=auth(stranger))
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", (method, suffix)
    listed = http.get("/api/v1/invoices", headers=auth(stranger)).json()["data"]["invoices"]
    assert invoice["id"] not in [i["id"] for i in listed]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-a-jwt"}, 401, "unauthorized"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "unauthorized"),
    ],
)
def test_missing_or_malformed_tokens_are_401(
    http: httpx.Client, headers: dict[str, str], status: int, code: str
) -> None:
    answer = http.get("/api/v1/invoices", headers={"Origin": ORIGIN, **headers})
    assert answer.status_code == status
    assert answer.json()["code"] == code and answer.json()["success"] is False
    assert answer.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")


def test_expired_wrongly_signed_and_unsigned_tokens_are_401(
    system: RunningRuntime, http: httpx.Client
) -> None:
    expired = token(system, exp=time.time() - 120)  # beyond the 30 s clock-skew leeway
    forged = jwt.encode(
        {"sub": "x", "tenant_id": "ten_demo", "roles": ["admin"], "exp": time.time() + 60}, "nope"
    )
    unsigned = jwt.encode(
        {"sub": "x", "tenant_id": "ten_demo", "roles": ["admin"], "exp": time.time() + 60},
        None,
        algorithm="none",
    )
    for bearer in (expired, forged, unsigned):
        answer = http.get("/api/v1/invoices", headers=auth(bearer))
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"


@pytest.mark.parametrize("subject", ["link-payer", "link:inv_aaaaaaaaaaaaaaaaaaaaaaaa"])
def test_reserved_subjects_are_401_on_rest_and_websocket(
    system: RunningRuntime, http: httpx.Client, subject: str
) -> None:
    bearer = token(system, sub=subject, roles=["consumer"])
    answer = http.get("/api/v1/invoices", headers=auth(bearer))
    assert (answer.status_code, answer.json()["code"]) == (401, "unauthorized")
    with pytest.raises(InvalidStatus):
        connect(f"{system.ws_url}?token={bearer}", open_timeout=20).close()


def test_platform_views_are_the_operators_alone(system: RunningRuntime, http: httpx.Client) -> None:
    paths = ("/api/v2/reserve/reconciliations", "/api/v2/provider-health/history")
    for roles in (["admin"], ["merchant"], ["consumer"]):
        bearer = auth(token(system, sub="usr_e2e_tenant", roles=roles))
        refused = [http.get(path, headers=bearer) for path in paths]
        refused.append(http.post("/api/v2/reserve/reconcile", headers=bearer))
        assert [(a.status_code, a.json()["code"]) for a in refused] == [(403, "forbidden")] * 3, roles
    operator = auth(system.tokens["operator"])
    for path in paths:
        answer = http.get(path, headers=operator)
        assert answer.status_code == 200, answer.text
    admin = token(system, sub="usr_e2e_admin", roles=["admin"])
    with connect(f"{system.ws_url}?token={admin}", open_timeout=20) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "platform"}))
        assert receive(socket, "error")["data"]["code"] == "forbidden"
    with connect(f"{system.ws_url}?token={system.tokens['operator']}", open_timeout=20) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": "platform"}))
        assert receive(socket, "subscribed")["channel"] == "platform"


def test_a_consumer_may_not_create_invoices(system: RunningRuntime, http: httpx.Client) -> None:
    answer = create(http, system.tokens["consumer"])
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"


def test_cors_preflight_and_request_id(http: httpx.Client, system: RunningRuntime) -> None:
    preflight = http.options(
        "/api/v1/invoices",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code in (200, 204)
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    for header in ("content-type", "authorization", "idempotency-key", "x-wallet-mode"):
        assert header in allowed
    echoed = http.get("/health", headers={"X-Request-ID": "req-e2e-42", "Origin": ORIGIN})
    assert echoed.headers["X-Request-ID"] == "req-e2e-42"
    assert echoed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-request-id" in echoed.headers["Access-Control-Expose-Headers"].lower()
    # The gateway's own refusals (no token: 401 before any function runs) echo it too.
    refused = http.get("/api/v1/invoices", headers={"X-Request-ID": "req-e2e-43", "Origin": ORIGIN})
    assert (refused.status_code, refused.headers["X-Request-ID"]) == (401, "req-e2e-43")


BAD_BODIES: list[tuple[str, Any]] = [
    ("malformed json", b'{"customer_id": "usr_x", '),
    ("array body", b"[]"),
    ("wrong type", invoice_body(line_items="many")),
    ("unknown field", invoice_body(surprise=True)),
    ("negative price", invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": "-1.00"}])),
    ("zero price", invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": 0}])),
    ("nan price", invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": "NaN"}])),
    ("3 decimals", invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": "1.005"}])),
    (
        "over limit",
        invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": "1000000001"}]),
    ),
    ("300 items", invoice_body(line_items=[{"description": "x", "quantity": 1, "unit_price": "1"}] * 300)),
    ("control chars", invoice_body(customer_id="usr_\u0000\u0007")),
    ("bad date", invoice_body(due_date="2026-02-30")),
    ("bad currency", invoice_body(currency="XYZ")),
    ("2 MB body", invoice_body(metadata={"blob": "x" * 2_000_000})),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[case for case, _ in BAD_BODIES])
def test_bad_input_is_a_4xx_and_writes_nothing(
    system: RunningRuntime, http: httpx.Client, case: str, body: Any
) -> None:
    before = table_items(system)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = auth(system.tokens["merchant"], **{"Content-Type": "application/json", "Idempotency-Key": case})
    answer = http.post("/api/v1/invoices", content=content, headers=headers)
    assert 400 <= answer.status_code < 500, (case, answer.status_code, answer.text[:300])
    assert answer.json()["code"] == "validation_error", case
    assert answer.json()["success"] is False
    assert table_items(system) == before, case


def ws(system: RunningRuntime, query: str) -> ClientConnection:
    return connect(f"{system.ws_url}{query}", open_timeout=20)


def receive(socket: ClientConnection, event: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("event") == event:
            return dict(message)


def test_websocket_needs_a_valid_token(system: RunningRuntime) -> None:
    for query in ("", "?token=garbage", f"?token={token(system, exp=time.time() - 120)}"):
        with pytest.raises(InvalidStatus) as refused:
            ws(system, query).close()
        assert refused.value.response.status_code in (401, 403), query


def test_websocket_subscribe_ping_and_live_invoice_events(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = system.tokens["merchant"]
    invoice = create(http, merchant).json()["data"]["invoice"]
    channel = f"invoice:{invoice['id']}"
    with ws(system, f"?token={merchant}") as socket:
        socket.send(json.dumps({"action": "ping"}))
        assert receive(socket, "pong")["ts"]
        socket.send(json.dumps({"action": "subscribe", "channel": channel}))
        state = receive(socket, "invoice:state")
        assert state["channel"] == channel and state["data"]["status"] == "draft"
        # Committed with its outbox item; stream -> bus -> realtime -> @connections brings it here.
        assert http.post(f"/api/v1/invoices/{invoice['id']}/send", headers=auth(merchant)).status_code == 200
        pushed = receive(socket, "invoice.sent", timeout=30)
        assert pushed["channel"] == channel
        assert pushed["data"]["status"] == "sent" and pushed["data"]["invoice_id"] == invoice["id"]


def test_websocket_refuses_another_tenants_invoice_channel(
    system: RunningRuntime, http: httpx.Client
) -> None:
    invoice = create(http, system.tokens["merchant"]).json()["data"]["invoice"]
    with ws(system, f"?token={token(system, tenant_id='ten_stranger')}") as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": f"invoice:{invoice['id']}"}))
        error = receive(socket, "error")
        assert error["data"]["code"] == "not_found"


def test_the_stripe_stand_in_runs_beside_the_system(system: RunningRuntime) -> None:
    stripe_url = system.state["services"]["stripe"]
    assert httpx.get(f"{stripe_url}/_control/health", timeout=5).status_code == 200
    refused = httpx.get(f"{stripe_url}/v1/issuing/cards", timeout=5)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "invalid_request_error"


@pytest.fixture(scope="module")
def fast_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    """The system with WALLETS_SPEED=60: the rate(1 minute) rules fire every real second."""
    with project_system(tmp_path_factory.mktemp("fast"), speed=60) as runtime:
        yield runtime


def test_provider_health_is_recorded_by_the_scheduled_check(fast_system: RunningRuntime) -> None:
    assert set(fast_system.state["services"]) >= {"tempo", "circle"}
    merchant = auth(fast_system.tokens["merchant"])

    def recorded() -> dict[str, Any] | None:
        try:
            answer = httpx.get(
                f"{fast_system.rest_url}/api/v2/provider-health/status", headers=merchant, timeout=20
            )
        except httpx.TimeoutException:
            return None  # a loaded machine: ask again until the deadline
        assert answer.status_code == 200, answer.text
        data = dict(answer.json()["data"])
        return data if data["tempo"]["status"] == "healthy" and data["primary"] == "tempo" else None

    status = wait_for(recorded, timeout=60, interval=0.5)
    assert status["circle"]["status"] == "healthy"
    listed = httpx.get(f"{fast_system.rest_url}/api/v1/providers/health", headers=merchant, timeout=10)
    names = {p["name"]: p["status"] for p in listed.json()["data"]["providers"]}
    assert names == {"tempo": "healthy", "circle": "healthy"}
