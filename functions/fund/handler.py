"""Fund function: charge a wallet's amount due by card or bank, mint the same value as stablecoins and
post it to the ledger with the wallet's new state (shared/funding/service.py); and the merchant's refund of
what a wallet holds back to the payer (shared/funding/wallet_refund.py)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit

from shared.api import Answer, ProviderPreferenceHeader, answer, caller, rest_function, with_provider_used
from shared.api.idempotency import IdempotencyKey, Outcome, idempotent
from shared.api.payment_outcomes import counted
from shared.bootstrap import app as capabilities
from shared.funding.output import Funded, FundingProcessing, WalletRefunded
from shared.models.wallet import FundWallet

metrics = Metrics()
router = APIGatewayRouter()


@router.post(
    "/api/v2/invoice-wallets/<wallet_id>/fund",
    summary="Fund a wallet by card or bank: charge, mint and credit its amount due",
    responses={
        200: answer(Funded, "Funded"),
        202: answer(FundingProcessing, "A bank payment is processing; the wallet is funded when it settles"),
        400: {"description": "invalid_state: the invoice is not payable, or the wallet ended"},
        402: {"description": "payment_failed: declined, nothing minted"},
        503: {"description": "provider_unavailable: nothing charged, or the charge was refunded"},
    },
)
def fund_wallet(
    wallet_id: str,
    body: FundWallet,
    idempotency_key: IdempotencyKey = None,
    provider_preference: ProviderPreferenceHeader = None,
) -> Answer[Funded | FundingProcessing]:
    principal = caller(router, allow_link=True)

    def fund() -> Outcome:
        outcome = capabilities().funding.fund(
            principal, wallet_id, body.payment_method, idempotency_key, provider_preference
        )
        if outcome.status_code == 200:
            metrics.add_metric(name="WalletsFunded", unit=MetricUnit.Count, value=1)
        typed = Funded if outcome.status_code == 200 else FundingProcessing
        return outcome.status_code, typed.of(outcome.data)

    return with_provider_used(idempotent(router, principal, idempotency_key, body, counted(metrics, fund)))


@router.post(
    "/api/v2/invoice-wallets/<wallet_id>/refund",
    summary="Refund what the wallet holds to the payer's original payment (burn, then Stripe refund)",
    description=(
        "Merchant or admin of the wallet's tenant. Answers `{refunded, wallet_status}`: the amount sent "
        "back (a decimal string) and the wallet's status after it (`active`, empty; it may be funded again, "
        "or its invoice voided). A wallet that holds nothing, or is not `funded`, is 400 `invalid_state`. "
        "Emits `wallet:refunded` on the `wallet:<id>` and `invoice:<id>` channels with `refunded`, "
        "`currency`, `wallet_balance`, `wallet_status`, `payment_intent_id` and `refund_id`."
    ),
    responses={
        200: {"description": "Refunded"},
        400: {"description": "invalid_state: nothing to refund, or the wallet is not funded"},
        409: {"description": "conflict: a payment of the wallet moved it meanwhile; retry"},
        503: {"description": "provider_unavailable: nothing committed; the retry resumes the same refund"},
    },
)
def refund_wallet(wallet_id: str, idempotency_key: IdempotencyKey = None) -> Answer[WalletRefunded]:
    principal = caller(router)

    def refund() -> Outcome:
        outcome = capabilities().wallet_refunds.refund(principal, wallet_id)
        metrics.add_metric(name="WalletsRefunded", unit=MetricUnit.Count, value=1)
        return 200, WalletRefunded.of(outcome.data)

    return idempotent(router, principal, idempotency_key, {}, refund)


app, lambda_handler = rest_function(router, metrics=metrics)
