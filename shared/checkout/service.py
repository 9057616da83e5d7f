"""The payer's side of a payment link: what `/public/pay/{token}` shows, as JSON or as the hosted page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from shared.checkout.links import LinkClaims, PaymentLinks
from shared.checkout.pages import PAYMENT_LINK, link_error_page, page_template, script_json
from shared.clock import Clock
from shared.errors import InvalidLink
from shared.models.invoice import Invoice, InvoiceStatus
from shared.models.wallet import Wallet
from shared.outbox.records import iso

PAYMENT_METHODS = ("card", "ach")
ALREADY_PAID = "Invoice already paid"
# The Stripe test PaymentMethods the hosted page offers; the first is the default.
TEST_CARDS = (
    ("pm_card_visa", "Visa (succeeds)"),
    ("pm_card_chargeDeclined", "Visa (declined)"),
    ("pm_card_insufficientFunds", "Visa (insufficient funds)"),
)
_DATA_SLOT = "__CHECKOUT_DATA__"
_FORM_START, _FORM_END = "<!-- pay-form -->", "<!-- /pay-form -->"
_PAID_NOTICE = '<p id="paid-notice" class="notice">Invoice already paid</p>'


class InvoiceReader(Protocol):
    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None: ...


class WalletReader(Protocol):
    def get(self, wallet_id: str) -> Wallet | None: ...


# What a link holder may see: anyone holding the link (forwarded mail, a shared screen) sees these, so the
# merchant's own fields (metadata, created_by, customer_id, tenant_id, enterprise address) stay out.
PUBLIC_INVOICE_FIELDS = (
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
)
PUBLIC_WALLET_FIELDS = (
    "wallet_id",
    "object",
    "wallet_type",
    "wallet_address",
    "solana_address",
    "balance",
    "currency",
    "status",
    "expires_at",
    "remaining_seconds",
)


def public_invoice(invoice: Invoice) -> dict[str, Any]:
    """The invoice as its payer needs it: number, amounts, currency, lines, due date and status."""
    full = invoice.to_api()
    return {name: full[name] for name in PUBLIC_INVOICE_FIELDS}


def public_wallet(wallet: Wallet, now: datetime) -> dict[str, Any]:
    """The wallet as its payer needs it: where to pay, its status and countdown."""
    full = wallet.to_api(now)
    return {name: full[name] for name in PUBLIC_WALLET_FIELDS}


class CheckoutService:
    """Resolves a payment link to its invoice and wallet, for the payer holding the link.

    Every reason a link cannot be paid through (tampered, expired, the invoice deleted or void, the
    invoice or wallet gone or not the ones the link names) is InvalidLink: a link holder learns nothing
    more than that the link does not work.
    """

    def __init__(
        self, invoices: InvoiceReader, wallets: WalletReader, links: PaymentLinks, clock: Clock
    ) -> None:
        self._invoices = invoices
        self._wallets = wallets
        self._links = links
        self._clock = clock

    def view(self, token: str) -> dict[str, Any]:
        """The `data` of `GET /public/pay/{token}` with `Accept: application/json`.

        Unpaid: `{invoice, wallet, paymentMethods}`. Paid: `{message: "Invoice already paid", invoice}`.
        A void invoice can no longer be paid, so its link is InvalidLink like a tampered one.
        """
        invoice, wallet = self._resolve(self._links.verify(token))
        if invoice.status is InvoiceStatus.PAID:
            return {"message": ALREADY_PAID, "invoice": public_invoice(invoice)}
        return {
            "invoice": public_invoice(invoice),
            "wallet": public_wallet(wallet, self._clock.now()),
            "paymentMethods": list(PAYMENT_METHODS),
        }

    def page(self, token: str) -> str:
        """The hosted checkout page: the view's data as inline JSON, plus the server time for the countdown.

        A paid invoice's page carries no payment form at all."""
        data = self.view(token)
        data["server_time"] = iso(self._clock.now())
        data["testCards"] = [{"id": card, "label": label} for card, label in TEST_CARDS]
        page = page_template("checkout.html")
        if "wallet" not in data:
            start, end = page.index(_FORM_START), page.index(_FORM_END) + len(_FORM_END)
            page = page[:start] + _PAID_NOTICE + page[end:]
        return page.replace(_DATA_SLOT, script_json(data))

    def error_page(self, message: str) -> str:
        """The page a browser gets for a link that does not work (served with status 400)."""
        return link_error_page(PAYMENT_LINK, message)

    def _resolve(self, claims: LinkClaims) -> tuple[Invoice, Wallet]:
        invoice = self._invoices.get(claims.tenant_id, claims.invoice_id)
        if invoice is None or invoice.deleted_at is not None or invoice.status is InvoiceStatus.VOID:
            raise InvalidLink("the payment link is invalid")
        wallet = self._wallets.get(claims.wallet_id)
        if wallet is None or wallet.tenant_id != claims.tenant_id or wallet.invoice_id != claims.invoice_id:
            raise InvalidLink("the payment link is invalid")
        return invoice, wallet
