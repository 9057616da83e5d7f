"""Treasury and payroll through the local runtime, as `make run` serves it: a card deposit into the treasury,
a payroll payout created by a merchant and approved by an admin, run in the background (outbox stream ->
bus rule -> payout_worker), and one item claimed on its hosted claim page in headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import RunningRuntime
from tests.e2e.system import auth, fresh_ip_windows, project_system, token
from tests.e2e.test_checkout_e2e import CHROMIUM, save_screenshot

pytestmark = pytest.mark.e2e

TENANT = "ten_payroll_e2e"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("payouts")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["data"])


def test_a_payroll_payout_is_approved_run_and_claimed_in_a_browser(
    system: RunningRuntime, http: httpx.Client, tmp_path: Path
) -> None:
    merchant = auth(token(system, sub="usr_payroll_maker", tenant_id=TENANT, roles=["merchant"]))
    admin = auth(token(system, sub="usr_payroll_checker", tenant_id=TENANT, roles=["admin"]))
    bob_token = token(system, sub="usr_bob_e2e", tenant_id=TENANT, roles=["consumer"])
    ok(
        http.post(
            "/api/consumer/onboard",
            json={"email": "bob.e2e@example.com", "phone": "+14155550199"},
            headers=auth(bob_token),
        ),
        201,
    )
    deposit = {"amount": "100.00", "payment_method": "pm_card_visa", "urgency": "instant"}
    funded = ok(
        http.post("/api/v1/treasury/deposit", json=deposit, headers={**merchant, "Idempotency-Key": "t1"})
    )
    assert funded["transaction"]["status"] == "completed"
    treasury = ok(http.get("/api/v1/treasury", headers=merchant))["treasury"]
    assert {b["currency"]: b["available"] for b in treasury["balances"]}["USDC"] == "100.00"

    items = [
        {"recipient": {"consumer_id": "usr_bob_e2e"}, "amount": "30", "currency": "USDC", "reference": "b"},
        {
            "recipient": {"email": "dana.e2e@example.com"},
            "amount": "20",
            "currency": "USDC",
            "reference": "d",
        },
    ]
    body = {"purpose": "payroll", "items": items, "reference": "payroll-e2e"}
    payout = ok(http.post("/api/v1/payouts", json=body, headers=merchant), 201)["payout"]
    assert payout["status"] == "pending_approval"
    assert http.post(f"/api/v1/payouts/{payout['id']}/approve", headers=merchant).status_code == 403
    approved = ok(http.post(f"/api/v1/payouts/{payout['id']}/approve", headers=admin))["payout"]
    assert approved["status"] == "approved"

    deadline = time.monotonic() + 90
    while True:
        current = ok(http.get(f"/api/v1/payouts/{payout['id']}", headers=merchant))["payout"]
        if current["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert current["status"] == "completed", current
    assert [i["status"] for i in current["items"]] == ["paid", "paid"]
    left = ok(http.get("/api/v1/treasury", headers=merchant))["treasury"]
    assert {b["currency"]: b["available"] for b in left["balances"]}["USDC"] == "50.00"

    fresh_ip_windows(system)
    claim_url = current["items"][0]["claim_url"]
    assert claim_url.startswith(system.rest_url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_context(viewport={"width": 900, "height": 900}).new_page()
            page.goto(claim_url, wait_until="load")
            assert page.inner_text("#amount") == "30.00 USDC"
            assert page.inner_text("#employer") == TENANT
            first = int(page.get_attribute("#countdown", "data-remaining") or "0")
            assert 6 * 86400 < first <= 7 * 86400
            page.fill("#token", bob_token)
            page.click("#claim-button")
            page.wait_for_selector('#result[data-state="success"]', timeout=60_000)
            assert "30.00 USDC" in page.inner_text("#result")
            assert page.is_disabled("#claim-button")
            save_screenshot(page, tmp_path, "payroll-claim.png")
        finally:
            browser.close()
    balance = ok(http.get("/api/consumer/balance", headers=auth(bob_token)))["balances"]
    assert {b["currency"]: b["available"] for b in balance}["USDC"] == "30.00"
    after = ok(http.get(f"/api/v1/payouts/{payout['id']}", headers=merchant))["payout"]
    assert [i["status"] for i in after["items"]] == ["claimed", "paid"]
