"""Pay function: pay an invoice from its wallet (destroying an ephemeral wallet before the answer), and the
public payment-link page `/public/pay/{token}` (JSON for API clients, the hosted checkout for browsers)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import (
    Answer,
    ProviderPreferenceHeader,
    caller,
    html_response,
    ok,
    rest_function,
    wants_html,
    with_provider_used,
)
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.api.payment_outcomes import counted
from shared.bootstrap import app as capabilities
from shared.checkout.output import CheckoutPaid, CheckoutView
from shared.errors import InvalidLink
from shared.models.wallet import PayInvoice
from shared.payments.output import InvoicePaid

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v2/invoice-wallets/<wallet_id>/pay-invoice",
    summary="Pay the wallet's invoice; an ephemeral wallet is destroyed before the answer",
    responses={
        200: {"description": "Paid (or partially paid with `amount`)"},
        400: {"description": "insufficient_balance, invalid_state (expired, already paid) or validation"},
        409: {"description": "another payment of this wallet is in progress"},
        503: {"description": "provider_unavailable: nothing moved"},
    },
)
def pay_invoice(
    wallet_id: str,
    body: PayInvoice | None = None,
    idempotency_key: IdempotencyKey = None,
    # Validated and accepted; a payment moves the tokens where they are: at the provider that minted them.
    provider_preference: ProviderPreferenceHeader = None,
) -> Answer[InvoicePaid]:
    principal = caller(router, allow_link=True)
    payload = body or PayInvoice()

    def pay() -> Outcome:
        outcome = capabilities().settlement.pay_invoice.pay(principal, wallet_id, payload.amount)
        metrics.add_metric(name="InvoicesPaid", unit=MetricUnit.Count, value=1)
        return 200, InvoicePaid.of(outcome.to_api())

    return with_provider_used(idempotent(router, principal, idempotency_key, payload, counted(metrics, pay)))


@router.get("/public/pay/<token>", summary="A payment link: JSON for API clients, the checkout page else")
def public_pay(token: str) -> Answer[CheckoutView | CheckoutPaid]:
    checkout = capabilities().checkout
    if wants_html((router.current_event.headers or {}).get("accept") or ""):
        try:
            return html_response(200, checkout.page(token))
        except InvalidLink as exc:
            return html_response(400, checkout.error_page(exc.message))
    view = checkout.view(token)
    typed = CheckoutPaid.of(view) if "message" in view else CheckoutView.of(view)
    message = typed.message if isinstance(typed, CheckoutPaid) else None
    return ok(typed, message=message, headers={"Cache-Control": "no-store"})


app, lambda_handler = rest_function(router, metrics=metrics)
