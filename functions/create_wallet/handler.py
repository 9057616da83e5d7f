"""Wallet-making REST function: create a wallet (from an invoice, the v1 one-call checkout, standalone
ephemeral) and transform one to persistent. The read routes are the `wallets` function's."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.adapters.metrics import record_wallet_creation
from shared.api import Answer, WalletModeHeader, caller, rest_function
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.bootstrap import app as capabilities
from shared.models.wallet import CreateEphemeral, CreateFromInvoice, CreateInvoiceWallet, WalletMode
from shared.wallets.output import EphemeralCreated, InvoiceWalletCreated, WalletCreated, WalletTransformed

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v2/invoice-wallets/create-from-invoice",
    summary="Create the invoice's wallet (or return the one it has)",
    responses={201: {"description": "Created"}, 200: {"description": "The invoice's existing wallet"}},
)
def create_from_invoice(
    body: CreateFromInvoice, idempotency_key: IdempotencyKey = None, wallet_mode: WalletModeHeader = None
) -> Answer[WalletCreated]:
    principal = caller(router)
    chosen = body.mode_override or wallet_mode

    def create() -> Outcome:
        mode = WalletMode(chosen) if chosen else None
        view = capabilities().wallets.create_for_invoice(
            principal, body.invoice_id, ttl_seconds=body.ttl, mode_override=mode
        )
        record_wallet_creation(view)
        return (201 if view.is_new else 200), WalletCreated.of(view.creation_answer())

    request = {**body.model_dump(mode="json"), "mode": chosen}
    return idempotent(router, principal, idempotency_key, request, create)


@router.post(
    "/api/v1/invoices/create-wallet",
    summary="Create a one-line invoice, its wallet and a payment link",
    responses={201: {"description": "Created"}},
)
def create_invoice_wallet(
    body: CreateInvoiceWallet, idempotency_key: IdempotencyKey = None, wallet_mode: WalletModeHeader = None
) -> Answer[InvoiceWalletCreated]:
    principal = caller(router)

    def create() -> Outcome:
        mode = WalletMode(wallet_mode) if wallet_mode else None
        data, view = capabilities().wallet_checkout.create(principal, body, mode)
        record_wallet_creation(view)
        return 201, InvoiceWalletCreated.of(data)

    request = {**body.model_dump(mode="json"), "mode": wallet_mode}
    return idempotent(router, principal, idempotency_key, request, create)


@router.post(
    "/api/v1/wallets/ephemeral/create",
    summary="Create an ephemeral wallet without an invoice",
    responses={201: {"description": "Created"}},
)
def create_ephemeral(
    body: CreateEphemeral, idempotency_key: IdempotencyKey = None
) -> Answer[EphemeralCreated]:
    principal = caller(router)

    def create() -> Outcome:
        view = capabilities().wallets.create_standalone(
            principal, body.purpose, body.expiryMinutes * 60, body.amount
        )
        record_wallet_creation(view)
        return 201, EphemeralCreated.of(view.standalone_answer())

    return idempotent(router, principal, idempotency_key, body, create)


@router.post("/api/v2/invoice-wallets/<wallet_id>/transform", summary="Make a wallet persistent for good")
def transform_wallet(wallet_id: str, idempotency_key: IdempotencyKey = None) -> Answer[WalletTransformed]:
    principal = caller(router)

    def transform() -> Outcome:
        return 200, WalletTransformed.of(capabilities().wallets.transform(principal, wallet_id))

    return idempotent(router, principal, idempotency_key, None, transform)


app, lambda_handler = rest_function(router, metrics=metrics)
