"""The payer's checkout through the local runtime: the link's JSON view, its narrow REST scope, and the
hosted page driven in headless Chromium from the link to a paid invoice and a destroyed wallet."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from shared.checkout.pages import script_json
from tests.e2e.conftest import ROOT, RunningRuntime
from tests.e2e.system import auth, create_invoice, fresh_ip_windows, project_system

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # installed by `make browser`; Playwright cannot download its own here
ARTIFACTS = ROOT / ".cache" / "e2e-artifacts"
WALLETS = "/api/v2/invoice-wallets"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRuntime]:
    with project_system(tmp_path_factory.mktemp("checkout")) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def http(system: RunningRuntime) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.rest_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def fresh_link_budget(system: RunningRuntime) -> None:
    fresh_ip_windows(system)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 1100})
    try:
        yield context.new_page()
    finally:
        context.close()


def payment_link(system: RunningRuntime, http: httpx.Client, description: str = "Beans") -> dict[str, Any]:
    """A one-line invoice with an ephemeral wallet and its payment link; `token` is the link's last part."""
    answer = http.post(
        "/api/v1/invoices/create-wallet",
        json={
            "amount": "42.50",
            "currency": "USD",
            "vendorId": "vnd_coffee",
            "description": description,
            "dueDate": "2026-12-31",
        },
        headers=auth(system.tokens["merchant"], **{"X-Wallet-Mode": "ephemeral"}),
    )
    assert answer.status_code == 201, answer.text
    data = dict(answer.json()["data"])
    assert data["paymentLink"].startswith(f"{system.rest_url}/public/pay/")
    data["token"] = data["paymentLink"].rsplit("/", 1)[-1]
    return data


def tampered(token: str) -> str:
    body, signature = token.split(".")
    return f"{body}.{('B' if signature[0] == 'A' else 'A') + signature[1:]}"


def invoice_of(system: RunningRuntime, http: httpx.Client, invoice_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/v1/invoices/{invoice_id}", headers=auth(system.tokens["merchant"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["invoice"])


def wallet_of(system: RunningRuntime, http: httpx.Client, wallet_id: str) -> dict[str, Any]:
    answer = http.get(f"{WALLETS}/{wallet_id}", headers=auth(system.tokens["merchant"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"]["wallet"])


def as_payer(token: str) -> dict[str, str]:
    return auth(token, **{"Idempotency-Key": str(uuid.uuid4())})


def test_the_link_shows_its_invoice_wallet_and_payment_methods_as_json(
    system: RunningRuntime, http: httpx.Client
) -> None:
    link = payment_link(system, http)
    answer = http.get(f"/public/pay/{link['token']}", headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    data = answer.json()["data"]
    assert data["invoice"]["id"] == link["invoiceId"]
    assert data["invoice"]["amount_due"] == "42.50" and data["invoice"]["currency"] == "USD"
    assert data["invoice"]["line_items"][0]["description"] == "Beans"
    assert data["wallet"]["wallet_id"] == link["walletId"]
    assert data["wallet"]["wallet_type"] == "ephemeral" and data["wallet"]["status"] == "active"
    assert data["wallet"]["expires_at"] is not None and data["wallet"]["remaining_seconds"] > 0
    assert data["paymentMethods"] == ["card", "ach"]


def test_a_tampered_link_is_invalid_and_no_bearer(system: RunningRuntime, http: httpx.Client) -> None:
    link = payment_link(system, http)
    bad = tampered(link["token"])
    answer = http.get(f"/public/pay/{bad}", headers={"Accept": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False and answer.json()["code"] == "invalid_link"
    page = http.get(f"/public/pay/{bad}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert 'data-state="error"' in page.text

    refused = http.post(
        f"{WALLETS}/{link['walletId']}/fund", json={"payment_method": "pm_card_visa"}, headers=as_payer(bad)
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["code"] == "unauthorized"
    assert wallet_of(system, http, link["walletId"])["balance"] == "0.00"


def test_a_link_may_fund_only_its_own_wallet(system: RunningRuntime, http: httpx.Client) -> None:
    link = payment_link(system, http)
    other = payment_link(system, http, description="Someone else's")
    body = {"payment_method": "pm_card_visa"}

    elsewhere = http.post(f"{WALLETS}/{other['walletId']}/fund", json=body, headers=as_payer(link["token"]))
    assert elsewhere.status_code == 404, elsewhere.text
    assert elsewhere.json()["code"] == "not_found"
    assert wallet_of(system, http, other["walletId"])["balance"] == "0.00"

    listing = http.get("/api/v1/invoices", headers=auth(link["token"]))
    assert listing.status_code == 403, listing.text
    assert listing.json()["code"] == "forbidden"
    invoice = create_invoice(http, link["token"])
    assert invoice.status_code == 403, invoice.text

    funded = http.post(f"{WALLETS}/{link['walletId']}/fund", json=body, headers=as_payer(link["token"]))
    assert funded.status_code == 200, funded.text
    assert funded.json()["data"]["status"] == "funded"
    assert funded.json()["data"]["wallet_balance"] == "42.50"


def test_a_link_pays_its_invoice_through_the_api(system: RunningRuntime, http: httpx.Client) -> None:
    link = payment_link(system, http)
    path = f"{WALLETS}/{link['walletId']}"
    funded = http.post(
        f"{path}/fund", json={"payment_method": "pm_card_visa"}, headers=as_payer(link["token"])
    )
    assert funded.status_code == 200, funded.text
    paid = http.post(f"{path}/pay-invoice", json={}, headers=as_payer(link["token"]))
    assert paid.status_code == 200, paid.text
    outcome = paid.json()["data"]
    assert outcome["invoice_status"] == "paid" and outcome["wallet_status"] == "destroyed"
    assert outcome["transaction_hash"]

    view = http.get(f"/public/pay/{link['token']}", headers={"Accept": "application/json"})
    assert view.status_code == 200, view.text
    assert view.json()["data"]["message"] == "Invoice already paid"
    assert view.json()["data"]["invoice"]["status"] == "paid"
    assert "wallet" not in view.json()["data"]


def open_checkout(page: Page, system: RunningRuntime, token: str) -> None:
    answer = page.goto(f"{system.rest_url}/public/pay/{token}")
    assert answer is not None and answer.status == 200, answer and answer.text()
    assert answer.headers["content-type"].startswith("text/html")


def countdown_seconds(page: Page) -> int:
    return int(page.get_attribute("#countdown", "data-remaining") or "-1")


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    shot = folder / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / name)
    return shot


def test_the_checkout_page_pays_the_invoice_in_a_browser(
    system: RunningRuntime, http: httpx.Client, page: Page, tmp_path: Path
) -> None:
    link = payment_link(system, http, description="Beans <b>&</b> </script><script>window.pwned=1</script>")
    invoice = invoice_of(system, http, link["invoiceId"])
    open_checkout(page, system, link["token"])

    assert page.inner_text("#invoice-number") == invoice["number"]
    assert page.inner_text("#amount-due") == "42.50 USD"
    assert "</script><script>window.pwned=1</script>" in page.inner_text("#line-items")
    assert page.evaluate("window.pwned") is None
    first = countdown_seconds(page)
    assert 0 < first <= 24 * 3600
    assert page.inner_text("#countdown") not in ("", "expired")
    page.wait_for_function(
        "start => Number(document.querySelector('#countdown').dataset.remaining) < start", arg=first
    )
    assert countdown_seconds(page) < first

    assert page.input_value("#payment-method") == "pm_card_visa"
    page.click("#pay-button")
    page.wait_for_selector('#result[data-state="success"]', timeout=60_000)
    result = page.inner_text("#result")
    assert "paid" in result and "destroyed" in result
    assert page.inner_text("#wallet-status") == "destroyed"
    assert page.is_disabled("#pay-button") and not page.is_visible("#pay-button")
    assert page.inner_text("#amount-due") == "0.00 USD"
    assert page.inner_text("#countdown") == "closed"
    save_screenshot(page, tmp_path, "checkout.png")

    assert invoice_of(system, http, link["invoiceId"])["status"] == "paid"
    assert wallet_of(system, http, link["walletId"])["status"] == "destroyed"

    open_checkout(page, system, link["token"])
    assert "Invoice already paid" in page.inner_text("body")
    assert page.query_selector("#pay-button") is None


def test_a_declined_card_shows_the_error_and_leaves_the_invoice_unpaid(
    system: RunningRuntime, http: httpx.Client, page: Page, tmp_path: Path
) -> None:
    link = payment_link(system, http)
    open_checkout(page, system, link["token"])
    page.select_option("#payment-method", "pm_card_chargeDeclined")
    page.click("#pay-button")
    page.wait_for_selector('#result[data-state="error"]', timeout=60_000)
    assert "payment_failed" in page.inner_text("#result")
    assert page.is_enabled("#pay-button")
    save_screenshot(page, tmp_path, "checkout-declined.png")

    invoice = invoice_of(system, http, link["invoiceId"])
    assert invoice["status"] != "paid" and invoice["amount_paid"] == "0.00"
    wallet = wallet_of(system, http, link["walletId"])
    assert wallet["status"] == "active" and wallet["balance"] == "0.00"


def test_the_page_keeps_a_stage_prefix_in_its_api_calls(browser: Browser) -> None:
    """Deployed, the page is `/prod/public/pay/{token}`: its calls must go to `/prod/api/...`."""
    context = browser.new_context()
    calls: list[dict[str, Any]] = []
    token = "e30.c2ln"
    data = {
        "invoice": {
            "number": "INV-00042",
            "currency": "USD",
            "status": "sent",
            "due_date": "2030-01-01",
            "line_items": [{"description": "Tea", "quantity": 1, "amount": "9.99"}],
            "subtotal": "9.99",
            "tax_amount": "0.00",
            "total_amount": "9.99",
            "amount_paid": "0.00",
            "amount_due": "9.99",
        },
        "wallet": {"wallet_id": "wal_x", "status": "active", "expires_at": "2099-01-01T00:00:00.000Z"},
        "paymentMethods": ["card", "ach"],
        "server_time": "2098-12-31T23:59:00.000Z",
        "testCards": [{"id": "pm_card_visa", "label": "Visa"}],
    }
    template = (ROOT / "shared" / "data" / "checkout.html").read_text(encoding="utf-8")
    html = template.replace("__CHECKOUT_DATA__", script_json(data))

    def serve(route: Any) -> None:
        request = route.request
        if "/public/pay/" in request.url:
            route.fulfill(status=200, content_type="text/html", body=html)
            return
        calls.append({"url": request.url, "headers": request.headers, "body": request.post_data})
        answer = (
            {"status": "funded"}
            if request.url.endswith("/fund")
            else {"invoice_status": "paid", "wallet_status": "destroyed", "transaction_hash": "0xabc"}
        )
        route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"success": True, "data": answer})
        )

    context.route("https://stage.example/**", serve)
    try:
        page = context.new_page()
        page.goto(f"https://stage.example/prod/public/pay/{token}")
        # Counted from the server's time (60 s left), not this machine's clock (73 years left); a loaded
        # machine may take a few seconds between the page's load and these reads.
        assert 50 <= countdown_seconds(page) <= 60
        assert re.fullmatch(r"00:(00:5\d|01:00)", page.inner_text("#countdown"))
        page.click("#pay-button")
        page.wait_for_selector('#result[data-state="success"]')
    finally:
        context.close()
    assert [call["url"] for call in calls] == [
        "https://stage.example/prod/api/v2/invoice-wallets/wal_x/fund",
        "https://stage.example/prod/api/v2/invoice-wallets/wal_x/pay-invoice",
    ]
    assert json.loads(calls[0]["body"]) == {"payment_method": "pm_card_visa"}
    assert json.loads(calls[1]["body"]) == {}
    for call in calls:
        assert call["headers"]["authorization"] == f"Bearer {token}"
        assert call["headers"]["content-type"] == "application/json"
    keys = {call["headers"]["idempotency-key"] for call in calls}
    assert len(keys) == 2 and all(uuid.UUID(key) for key in keys)
