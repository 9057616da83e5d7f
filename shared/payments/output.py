"""The pay route's answer (the envelope's `data`), as `PaymentOutcome.to_api` writes it."""

from shared.models.output import Output


class InvoicePaid(Output):
    """The payment and where it left the invoice and the wallet (`destroyed` when an ephemeral wallet died
    before the answer)."""

    wallet_id: str
    invoice_id: str
    invoice_status: str
    amount: str
    amount_paid: str
    amount_due: str
    currency: str
    transaction_hash: str | None
    provider: str
    wallet_status: str
    wallet_balance: str
