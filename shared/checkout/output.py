"""The payment link's JSON answer (`GET /public/pay/{token}`): what the payer holding the link may see."""

from typing import Literal

from shared.invoices.output import InvoiceLineOut
from shared.models.output import Output


class PublicInvoice(Output):
    id: str
    object: Literal["invoice"]
    number: str
    currency: str
    status: str
    line_items: list[InvoiceLineOut]
    subtotal: str
    tax_amount: str
    total_amount: str
    amount_paid: str
    amount_due: str
    due_date: str


class PublicWallet(Output):
    wallet_id: str
    object: Literal["wallet"]
    wallet_type: str
    wallet_address: str
    solana_address: str
    balance: str
    currency: str
    status: str
    expires_at: str | None
    remaining_seconds: int | None


class CheckoutView(Output):
    """An unpaid invoice's link: the invoice, the wallet to pay into and the payment methods."""

    invoice: PublicInvoice
    wallet: PublicWallet
    paymentMethods: list[str]


class CheckoutPaid(Output):
    """A paid invoice's link: `message` ("Invoice already paid", also the envelope's) and the invoice."""

    message: str
    invoice: PublicInvoice
