"""Pay function: pay an invoice from its wallet (destroying an ephemeral wallet before the answer), and the
public payment-link page `/public/pay/{token}` (JSON for API clients, the hosted checkout for browsers)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from shared.adapters.destruction_wiring import Settlement, build_settlement
from shared.adapters.dynamodb_idempotency import idempotency_store
from shared.adapters.dynamodb_table import dynamodb_client
from shared.adapters.metrics import CloudWatchDestructionMetrics, CountMetrics
from shared.api import build_resolver, handle_api_event, ok
from shared.auth import principal_from_event
from shared.checkout.links import PaymentLinks
from shared.checkout.service import CheckoutService
from shared.config import Settings, get_settings
from shared.errors import InvalidLink
from shared.idempotency import IdempotentRequests
from shared.models.common import FiatAmount

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="1-255 characters")]


class PayInvoice(BaseModel):
    """Body of POST /api/v2/invoice-wallets/{walletId}/pay-invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: FiatAmount | None = None


class Dependencies:
    def __init__(self, settlement: Settlement, checkout: CheckoutService, idempotency: IdempotentRequests):
        self.settlement = settlement
        self.checkout = checkout
        self.idempotency = idempotency


def compose(settings: Settings, *, client: Any = None, **overrides: Any) -> Dependencies:
    """Wire the real adapters once per process; tests hand in moto clients, stand-ins and fakes."""
    client = client or dynamodb_client(settings.aws_region)
    settlement = build_settlement(
        settings,
        client=client,
        provider_metrics=CountMetrics(metrics),
        destruction_metrics=CloudWatchDestructionMetrics(),
        **overrides,
    )

    # Composed on the first invocation, so reading the secret here waits on nothing at import.
    links = PaymentLinks(
        settlement.secrets()["payment_link_secret"], settlement.clock, settings.public_base_url
    )
    checkout = CheckoutService(settlement.invoices, settlement.wallets, links, settlement.clock)
    return Dependencies(
        settlement,
        checkout,
        IdempotentRequests(idempotency_store(client, settings.table_name, settings.service_name)),
    )


deps: Dependencies | None = None


def _deps() -> Dependencies:
    # Composed on the first invocation, not at import: the Stripe key comes from Secrets Manager.
    global deps
    if deps is None:
        deps = compose(get_settings())
    return deps


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
    wallet_id: str, body: PayInvoice | None = None, idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    principal = principal_from_event(router.current_event.raw_event, allow_link=True)
    payload = body or PayInvoice()
    request = {
        "method": "POST",
        "path": f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice",
        "body": payload.model_dump(mode="json"),
    }
    dependencies = _deps()

    def pay() -> tuple[int, Any]:
        outcome = dependencies.settlement.payments.pay(principal, wallet_id, payload.amount)
        metrics.add_metric(name="InvoicesPaid", unit=MetricUnit.Count, value=1)
        return 200, outcome.data

    return dependencies.idempotency.run(principal, idempotency_key, request, pay)


@router.get("/public/pay/<token>", summary="A payment link: JSON for API clients, the checkout page else")
def public_pay(token: str) -> Response[Any]:
    accept = (router.current_event.headers or {}).get("accept") or ""
    checkout = _deps().checkout
    if _wants_html(accept):
        try:
            page = checkout.page(token)
        except InvalidLink as exc:
            return _html(400, checkout.error_page(exc.message))
        return _html(200, page)
    view = checkout.view(token)
    message = view.get("message") if isinstance(view.get("message"), str) else None
    return ok(view, message=message, headers={"Cache-Control": "no-store"})


def _wants_html(accept: str) -> bool:
    """A browser asks for text/html first; an API client for application/json (or anything)."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    if "application/json" in kinds:
        return "text/html" in kinds and kinds.index("text/html") < kinds.index("application/json")
    return "text/html" in kinds


def _html(status: int, page: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=page,
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'",
        },
    )


app = build_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _deps().idempotency.register_lambda_context(context)
    return handle_api_event(app, event, context)
