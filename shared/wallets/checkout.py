"""The v1 one-call checkout: a one-line invoice, its wallet and a signed payment link with its QR code."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from pydantic import ValidationError

from shared.auth import LINK_PAYER, MERCHANT, Principal, require_role
from shared.checkout.links import PaymentLinks
from shared.errors import ValidationFailed, WalletsError
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate
from shared.models.wallet import CreateInvoiceWallet, WalletMode
from shared.outbox.records import iso
from shared.wallets.service import WalletService, WalletView


class InvoiceWalletCheckout:
    def __init__(
        self,
        invoices: InvoiceService,
        wallets: WalletService,
        links: Callable[[], PaymentLinks],
        qr_code: Callable[[str], str],
    ) -> None:
        self._invoices = invoices
        self._wallets = wallets
        self._links = links
        self._qr_code = qr_code

    def create(
        self, principal: Principal, request: CreateInvoiceWallet, mode: WalletMode | None
    ) -> tuple[dict[str, Any], WalletView]:
        require_role(principal, MERCHANT)
        # An invoice made without a customer is paid through its link by whoever holds it: no consumer
        # account is addressed, and the reserved LINK_PAYER id (never a valid token subject) stands for
        # that in the invoice's required customer field.
        try:
            draft = InvoiceCreate.model_validate(
                {
                    "customer_id": request.customer_id or LINK_PAYER,
                    "currency": request.currency,
                    "line_items": [
                        {"description": request.description, "quantity": 1, "unit_price": request.amount}
                    ],
                    "due_date": request.dueDate.isoformat(),
                    "metadata": {**(request.metadata or {}), "vendor_id": request.vendorId},
                }
            )
        except ValidationError as exc:
            details = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
            raise ValidationFailed("the invoice would be invalid", details) from exc
        invoice = self._invoices.create(principal, draft)
        try:
            # The invoice was just announced with its own invoice.created: the wallet adds only its event.
            view = self._wallets.create_for_invoice(
                principal, invoice.id, mode_override=mode, announce_invoice=False
            )
        except WalletsError:
            # A draft nobody has paid or seen a wallet for: voiding it keeps a retry (which makes a new
            # invoice, since this call's Idempotency-Key record is dropped on failure) from leaving a twin.
            with suppress(WalletsError):
                self._invoices.void(principal, invoice.id)
            raise
        links = self._links()
        token, _ = links.issue(invoice.tenant_id, invoice.id, view.wallet.wallet_id)
        link = links.url(token)
        wallet = view.wallet
        data = {
            "invoiceId": invoice.id,
            "walletId": wallet.wallet_id,
            "walletAddress": wallet.evm_address,
            "paymentLink": link,
            "qrCode": self._qr_code(link),
            "expiresAt": iso(wallet.expires_at) if wallet.expires_at else None,
        }
        return data, view
