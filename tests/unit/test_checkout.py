"""The payment link's checkout: the JSON view and the hosted page for unpaid, paid and unusable links."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared.checkout.links import PaymentLinks
from shared.checkout.service import CheckoutService
from shared.clock import FixedClock
from shared.errors import InvalidLink
from shared.models.invoice import Invoice, InvoiceLine, InvoiceStatus
from shared.models.wallet import Wallet, WalletMode, WalletStatus
from tests.unit.wallets.fakes import NOW, FakeInvoices, invoice

SECRET = "a-long-enough-payment-link-secret"
INVOICE_ID = "inv_" + "a" * 24
WALLET_ID = "wal_" + "1" * 24
HOSTILE = '</script><script>alert("x")</script><!-- & >'


def wallet(**overrides: Any) -> Wallet:
    values: dict[str, Any] = {
        "wallet_id": WALLET_ID,
        "tenant_id": "tenant-a",
        "invoice_id": INVOICE_ID,
        "customer_id": "cus_alice",
        "wallet_type": WalletMode.EPHEMERAL,
        "status": WalletStatus.ACTIVE,
        "evm_address": "0x" + "ab" * 20,
        "solana_address": "So1ana" + "1" * 30,
        "spending_limit": Decimal("250.00"),
        "currency": "USD",
        "expires_at": NOW + timedelta(hours=1),
        "ttl_seconds": 3600,
        "created_by": "merchant-1",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Wallet(**values)


class FakeWallets:
    def __init__(self, *wallets: Wallet) -> None:
        self.items = {w.wallet_id: w for w in wallets}

    def get(self, wallet_id: str) -> Wallet | None:
        return self.items.get(wallet_id)


def service(
    invoices: list[Invoice] | None = None,
    wallets: list[Wallet] | None = None,
    clock: FixedClock | None = None,
) -> tuple[CheckoutService, PaymentLinks, FixedClock]:
    clock = clock or FixedClock(NOW)
    links = PaymentLinks(SECRET, clock, "https://pay.example")
    invoice_list = [invoice()] if invoices is None else invoices
    wallet_list = [wallet()] if wallets is None else wallets
    return CheckoutService(FakeInvoices(*invoice_list), FakeWallets(*wallet_list), links, clock), links, clock


def link(links: PaymentLinks, tenant: str = "tenant-a", wallet_id: str = WALLET_ID) -> str:
    return links.issue(tenant, INVOICE_ID, wallet_id)[0]


def page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="checkout-data">(.*?)</script>', page, re.S)
    assert found is not None
    loaded: dict[str, Any] = json.loads(found.group(1))
    return loaded


def test_an_unpaid_invoice_shows_invoice_wallet_and_payment_methods() -> None:
    checkout, links, _ = service()
    data = checkout.view(link(links))
    assert data["invoice"]["number"] == "INV-00001"
    assert data["invoice"]["amount_due"] == "250.00"
    assert data["wallet"]["wallet_id"] == WALLET_ID
    assert data["wallet"]["status"] == "active"
    assert data["wallet"]["remaining_seconds"] == 3600
    assert data["paymentMethods"] == ["card", "ach"]
    assert "message" not in data


MERCHANT_ONLY = {"metadata", "created_by", "customer_id", "tenant_id", "enterprise_wallet_address"}


def test_the_link_view_shows_the_payer_only_what_paying_needs() -> None:
    merchants = invoice(metadata={"internal_ref": "margin-40%"}, enterprise_wallet_address="0x" + "1" * 40)
    checkout, links, _ = service(invoices=[merchants])
    token = link(links)
    for data in (checkout.view(token), page_data(checkout.page(token))):
        assert set(data["invoice"]) == {
            "id",
            "object",
            "number",
            "currency",
            "status",
            "line_items",
            "subtotal",
            "tax_amount",
            "total_amount",
            "amount_paid",
            "amount_due",
            "due_date",
        }
        assert not MERCHANT_ONLY & set(data["wallet"])
        assert set(data["wallet"]) >= {"wallet_id", "wallet_address", "solana_address", "status"}
        assert "margin-40%" not in json.dumps(data) and "merchant-1" not in json.dumps(data)
    paid = invoice(status=InvoiceStatus.PAID, amount_paid=Decimal("250.00"), metadata={"k": "secret"})
    checkout, links, _ = service(invoices=[paid])
    assert not MERCHANT_ONLY & set(checkout.view(link(links))["invoice"])


def test_a_wallet_past_its_expiry_shows_as_expired() -> None:
    checkout, links, clock = service()
    token = link(links)
    clock.advance(hours=2)
    assert checkout.view(token)["wallet"]["status"] == "expired"


def test_a_paid_invoice_says_so_without_a_wallet() -> None:
    paid = invoice(status=InvoiceStatus.PAID, amount_paid=Decimal("250.00"))
    checkout, links, _ = service(invoices=[paid], wallets=[wallet(status=WalletStatus.DESTROYED)])
    data = checkout.view(link(links))
    assert data["message"] == "Invoice already paid"
    assert data["invoice"]["status"] == "paid"
    assert "wallet" not in data and "paymentMethods" not in data


@pytest.mark.parametrize(
    "invoices",
    [
        [invoice(deleted_at=NOW, status=InvoiceStatus.VOID)],
        [invoice(status=InvoiceStatus.VOID)],
        [],
    ],
    ids=["deleted", "void", "missing"],
)
def test_an_invoice_that_cannot_be_paid_is_an_invalid_link(invoices: list[Invoice]) -> None:
    checkout, links, _ = service(invoices=invoices)
    with pytest.raises(InvalidLink):
        checkout.view(link(links))


def test_a_tampered_token_is_an_invalid_link() -> None:
    checkout, links, _ = service()
    body, signature = link(links).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(InvalidLink):
        checkout.view(f"{body}.{flipped}")
    with pytest.raises(InvalidLink):
        checkout.page(f"{body}.{flipped}")


def test_an_expired_token_is_an_invalid_link() -> None:
    checkout, links, clock = service()
    token = link(links)
    clock.advance(days=31)
    with pytest.raises(InvalidLink, match="expired"):
        checkout.view(token)


@pytest.mark.parametrize(
    ("wallets", "tenant"),
    [
        ([wallet(tenant_id="tenant-b")], "tenant-a"),
        ([wallet(invoice_id="inv_" + "b" * 24)], "tenant-a"),
        ([], "tenant-a"),
        ([wallet()], "tenant-b"),
    ],
    ids=["wallet-of-other-tenant", "wallet-of-other-invoice", "wallet-missing", "link-of-other-tenant"],
)
def test_a_wallet_not_named_by_the_link_is_an_invalid_link(wallets: list[Wallet], tenant: str) -> None:
    checkout, links, _ = service(wallets=wallets)
    with pytest.raises(InvalidLink):
        checkout.view(link(links, tenant=tenant))


def test_the_page_carries_the_data_the_server_time_and_the_stable_ids() -> None:
    checkout, links, _ = service()
    page = checkout.page(link(links))
    data = page_data(page)
    assert data["invoice"]["number"] == "INV-00001"
    assert data["wallet"]["expires_at"] == "2030-01-01T13:00:00.000Z"
    assert data["server_time"] == "2030-01-01T12:00:00.000Z"
    assert [card["id"] for card in data["testCards"]] == [
        "pm_card_visa",
        "pm_card_chargeDeclined",
        "pm_card_insufficientFunds",
    ]
    for element in ("invoice-number", "amount-due", "countdown", "payment-method", "pay-button", "result"):
        assert f'id="{element}"' in page
    assert "/fund" in page and "/pay-invoice" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "the page must load no outside asset"


def test_hostile_invoice_text_cannot_leave_the_data_script() -> None:
    line = InvoiceLine(
        description=HOSTILE,
        quantity=1,
        unit_price=Decimal("250.00"),
        tax_rate=Decimal(0),
        amount=Decimal("250.00"),
        tax_amount=Decimal(0),
    )
    checkout, links, _ = service(invoices=[invoice(line_items=[line])])
    page = checkout.page(link(links))
    data_script = page.split('id="checkout-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data_script and ">" not in data_script and "&" not in data_script
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert page_data(page)["invoice"]["line_items"][0]["description"] == HOSTILE


def test_a_paid_invoice_page_has_no_pay_button() -> None:
    paid = invoice(status=InvoiceStatus.PAID, amount_paid=Decimal("250.00"))
    checkout, links, _ = service(invoices=[paid])
    page = checkout.page(link(links))
    assert "Invoice already paid" in page
    assert 'id="pay-button"' not in page and 'id="payment-method"' not in page
    assert 'id="invoice-number"' in page and 'id="result"' in page
    assert page_data(page)["message"] == "Invoice already paid"


def test_the_error_page_escapes_its_message() -> None:
    checkout, _, _ = service()
    page = checkout.error_page(HOSTILE)
    assert "<script>alert" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page
    assert 'data-state="error"' in page
