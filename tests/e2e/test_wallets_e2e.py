"""Invoice wallets through the local runtime: creation, one per invoice, countdown, transform, v1."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from shared.crypto.keys import is_checksum_address
from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, create_invoice, project_system, set_tenant_limits, token

pytestmark = pytest.mark.e2e

CREATE = "/api/v2/invoice-wallets/create-from-invoice"
BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("wallets")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def new_invoice(system: RunningRuntime, http: httpx.Client, **overrides: Any) -> dict[str, Any]:
    answer = create_invoice(http, system.tokens["merchant"], **overrides)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["invoice"])


def make_wallet(system: RunningRuntime, http: httpx.Client, invoice_id: str, **body: Any) -> httpx.Response:
    return http.post(CREATE, json={"invoice_id": invoice_id, **body}, headers=auth(system.tokens["merchant"]))


def schedule_of(system: RunningRuntime, wallet_id: str) -> dict[str, Any] | None:
    scheduler = system.aws("scheduler")
    for group in scheduler.list_schedule_groups()["ScheduleGroups"]:
        for entry in scheduler.list_schedules(GroupName=group["Name"])["Schedules"]:
            if wallet_id in entry["Name"]:
                return dict(scheduler.get_schedule(Name=entry["Name"], GroupName=group["Name"]))
    return None


def lease_of(system: RunningRuntime, wallet_id: str) -> dict[str, Any] | None:
    client = system.aws("dynamodb")
    table = next(n for n in client.list_tables()["TableNames"] if "WalletsTable" in n)
    key = {"pk": {"S": f"LEASE#{wallet_id}"}, "sk": {"S": "LEASE"}}
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_an_ephemeral_wallet_gets_real_addresses_a_capped_card_a_schedule_and_a_lease(
    system: RunningRuntime, http: httpx.Client
) -> None:
    invoice = new_invoice(system, http)
    created = make_wallet(system, http, invoice["id"], ttl=600, mode_override="ephemeral")
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    wallet, card = data["wallet"], data["card"]
    assert data["isNew"] is True and data["mode"] == "ephemeral" and 0 < data["expiresIn"] <= 600
    assert wallet["invoice_id"] == invoice["id"] and wallet["wallet_type"] == "ephemeral"
    assert is_checksum_address(wallet["wallet_address"])
    assert BASE58.fullmatch(wallet["solana_address"])
    assert wallet["spending_limit"] == invoice["amount_due"] == card["spending_limit"]
    assert card["card_type"] == "virtual" and card["single_use"] is True and len(card["last4"]) == 4
    assert not any(key in card for key in ("number", "cvc", "pan"))
    assert "private" not in created.text.lower()

    schedule = schedule_of(system, wallet["wallet_id"])
    assert schedule is not None and schedule["ScheduleExpression"].startswith("at(")
    assert schedule["ActionAfterCompletion"] == "DELETE"
    lease = lease_of(system, wallet["wallet_id"])
    assert lease is not None and int(lease["ttl"]["N"]) > 0

    stripe_url = system.state["services"]["stripe"]
    issued = httpx.get(
        f"{stripe_url}/v1/issuing/cards/{card['id']}",
        headers={"Authorization": "Bearer sk_test_local"},
        timeout=10,
    ).json()
    limits = {
        (limit["interval"], limit["amount"]) for limit in issued["spending_controls"]["spending_limits"]
    }
    cents = int(invoice["amount_due"].replace(".", ""))
    assert limits == {("all_time", cents), ("per_authorization", cents)}

    countdown = http.get(f"/api/v2/invoice-wallets/{wallet['wallet_id']}/countdown")  # no token: public
    assert countdown.status_code == 200
    body = countdown.json()["data"]
    assert body["is_expired"] is False and 0 < body["remaining_seconds"] <= 600 and body["server_time"]
    by_invoice = http.get(
        f"/api/v2/invoice-wallets/by-invoice/{invoice['id']}", headers=auth(system.tokens["merchant"])
    )
    assert by_invoice.json()["data"]["wallet"]["wallet_id"] == wallet["wallet_id"]


def test_twenty_concurrent_calls_make_one_wallet(system: RunningRuntime, http: httpx.Client) -> None:
    # Twenty creations within a second are over the default 10/s: this tenant's setting allows more.
    racer = token(system, tenant_id="ten_wallet_race")
    set_tenant_limits(system, "ten_wallet_race", creation_per_second=50)
    made = create_invoice(http, racer)
    assert made.status_code == 201, made.text
    invoice = made.json()["data"]["invoice"]

    def make(_: int) -> httpx.Response:
        return http.post(CREATE, json={"invoice_id": invoice["id"]}, headers=auth(racer))

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(make, range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 19 + [201], [a.text[:200] for a in answers if a.status_code >= 400]
    wallet_ids = {a.json()["data"]["wallet"]["wallet_id"] for a in answers}
    assert len(wallet_ids) == 1
    assert sum(a.json()["data"]["isNew"] for a in answers) == 1


def test_transform_cancels_destruction(system: RunningRuntime, http: httpx.Client) -> None:
    invoice = new_invoice(system, http)
    wallet = make_wallet(system, http, invoice["id"], mode_override="ephemeral").json()["data"]["wallet"]
    assert schedule_of(system, wallet["wallet_id"]) is not None
    path = f"/api/v2/invoice-wallets/{wallet['wallet_id']}/transform"
    first = http.post(path, headers=auth(system.tokens["merchant"]))
    assert first.status_code == 200 and first.json()["data"]["new_type"] == "persistent"
    again = http.post(path, headers=auth(system.tokens["merchant"]))
    assert again.status_code == 200 and again.json()["data"]["new_type"] == "persistent"
    assert schedule_of(system, wallet["wallet_id"]) is None
    assert lease_of(system, wallet["wallet_id"]) is None
    countdown = http.get(f"/api/v2/invoice-wallets/{wallet['wallet_id']}/countdown")
    assert countdown.status_code == 404


def test_another_tenants_wallet_is_not_found(system: RunningRuntime, http: httpx.Client) -> None:
    invoice = new_invoice(system, http)
    wallet = make_wallet(system, http, invoice["id"]).json()["data"]["wallet"]
    stranger = auth(token(system, tenant_id="ten_stranger"))
    for path in (
        f"/api/v2/invoice-wallets/{wallet['wallet_id']}",
        f"/api/v2/invoice-wallets/{wallet['wallet_id']}/status",
        f"/api/v2/invoice-wallets/by-invoice/{invoice['id']}",
    ):
        answer = http.get(path, headers=stranger)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", path
    refused = http.post(CREATE, json={"invoice_id": invoice["id"]}, headers=stranger)
    assert refused.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"ttl": 59}, {"ttl": 2_592_001}, {"ttl": "soon"}, {"mode_override": "forever"}, {"surprise": 1}],
)
def test_bad_wallet_requests_are_validation_errors(
    system: RunningRuntime, http: httpx.Client, body: dict[str, Any]
) -> None:
    invoice = new_invoice(system, http)
    answer = make_wallet(system, http, invoice["id"], **body)
    assert answer.status_code == 400 and answer.json()["code"] == "validation_error"
    missing = http.get(
        f"/api/v2/invoice-wallets/by-invoice/{invoice['id']}", headers=auth(system.tokens["merchant"])
    )
    assert missing.status_code == 404


def test_v1_create_wallet_and_ephemeral_create(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = auth(system.tokens["merchant"])
    answer = http.post(
        "/api/v1/invoices/create-wallet",
        json={
            "amount": "42.50",
            "currency": "USD",
            "vendorId": "vnd_coffee",
            "description": "Beans",
            "dueDate": "2026-12-31",
            "metadata": {"order": "A-1"},
        },
        headers=merchant,
    )
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert {"invoiceId", "walletId", "walletAddress", "paymentLink", "qrCode", "expiresAt"} <= set(data)
    assert data["paymentLink"].startswith(f"{system.rest_url}/public/pay/")
    assert data["qrCode"].startswith("data:image/svg+xml")
    svg = data["qrCode"].split(",", 1)[1]
    decoded = base64.b64decode(svg).decode() if ";base64" in data["qrCode"] else svg
    assert "svg" in decoded

    ephemeral = http.post(
        "/api/v1/wallets/ephemeral/create", json={"purpose": "p2p", "expiryMinutes": 30}, headers=merchant
    )
    assert ephemeral.status_code == 201 and is_checksum_address(ephemeral.json()["data"]["address"])
    for bad in ({"purpose": "p2p", "expiryMinutes": 0}, {"purpose": "gift", "expiryMinutes": 5}):
        refused = http.post("/api/v1/wallets/ephemeral/create", json=bad, headers=merchant)
        assert refused.status_code == 400 and refused.json()["code"] == "validation_error"


def test_admin_stats_count_what_was_created(system: RunningRuntime, http: httpx.Client) -> None:
    admin = auth(system.tokens["admin"])
    answer = http.get("/api/v2/invoice-wallets/stats", headers=admin)
    assert answer.status_code == 200, answer.text
    before = answer.json()["data"]
    make_wallet(system, http, new_invoice(system, http)["id"], mode_override="ephemeral")
    after = http.get("/api/v2/invoice-wallets/stats", headers=admin).json()["data"]
    assert after["created_total"] == before["created_total"] + 1
    forbidden = http.get("/api/v2/invoice-wallets/stats", headers=auth(system.tokens["consumer"]))
    assert forbidden.status_code == 403
    listed = http.get("/api/v2/invoice-wallets/active", params={"limit": 5}, headers=admin)
    assert listed.status_code == 200, listed.text
    active = listed.json()["data"]
    assert 1 <= len(active["wallets"]) <= 5


def test_a_payment_link_token_follows_only_its_own_invoice_over_websocket(
    system: RunningRuntime, http: httpx.Client
) -> None:
    merchant = auth(system.tokens["merchant"])
    body = {
        "amount": "9.99",
        "currency": "USD",
        "vendorId": "v",
        "description": "Tea",
        "dueDate": "2026-12-31",
    }
    created = http.post("/api/v1/invoices/create-wallet", json=body, headers=merchant).json()["data"]
    link_token = created["paymentLink"].rsplit("/", 1)[-1]
    other = new_invoice(system, http)
    with connect(f"{system.ws_url}?token={link_token}", open_timeout=20) as socket:
        socket.send(json.dumps({"action": "subscribe", "channel": f"invoice:{created['invoiceId']}"}))
        assert receive(socket, "invoice:state")["data"]["id"] == created["invoiceId"]
        socket.send(json.dumps({"action": "subscribe", "channel": f"invoice:{other['id']}"}))
        assert receive(socket, "error")["data"]["code"] == "not_found"
        socket.send(json.dumps({"action": "subscribe", "channel": "admin"}))
        assert receive(socket, "error")["data"]["code"] == "forbidden"
    tampered = link_token[:-2] + ("AA" if not link_token.endswith("AA") else "BB")
    with pytest.raises(InvalidStatus):
        connect(f"{system.ws_url}?token={tampered}", open_timeout=20).close()
    # A link token pays its own wallet over REST (fund, pay-invoice) and is refused everywhere else.
    refused = http.get(f"/api/v1/invoices/{created['invoiceId']}", headers=auth(link_token))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


def receive(socket: ClientConnection, event: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("event") == event:
            return dict(message)


def test_funding_charges_mints_and_credits_once(system: RunningRuntime, http: httpx.Client) -> None:
    merchant = auth(system.tokens["merchant"])
    invoice = new_invoice(system, http)
    wallet = make_wallet(system, http, invoice["id"]).json()["data"]["wallet"]
    path = f"/api/v2/invoice-wallets/{wallet['wallet_id']}/fund"

    declined = http.post(path, json={"payment_method": "pm_card_chargeDeclined"}, headers=merchant)
    assert declined.status_code == 402 and declined.json()["code"] == "payment_failed"
    still = http.get(f"/api/v2/invoice-wallets/{wallet['wallet_id']}", headers=merchant).json()["data"]
    assert still["wallet"]["balance"] == "0.00" and still["wallet"]["status"] == "active"

    headers = {**merchant, "Idempotency-Key": "fund-e2e-1"}
    funded = http.post(path, json={"payment_method": "pm_card_visa"}, headers=headers)
    assert funded.status_code == 200, funded.text
    data = funded.json()["data"]
    assert data["status"] == "funded" and data["payment_intent_id"].startswith("pi_")
    assert data["wallet_balance"] == invoice["amount_due"] and data["provider"] in ("tempo", "circle")
    replay = http.post(path, json={"payment_method": "pm_card_visa"}, headers=headers)
    assert replay.json() == funded.json() and replay.headers.get("Idempotent-Replayed") == "true"
    again = http.post(path, json={"payment_method": "pm_card_visa"}, headers=merchant)
    assert again.status_code == 400 and again.json()["code"] == "invalid_state"

    minted = httpx.get(f"{system.state['services'][data['provider']]}/_control/state", timeout=10).json()
    assert wallet["wallet_address"].lower() in json.dumps(minted).lower()
