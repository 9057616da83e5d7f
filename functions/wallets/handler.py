"""Wallet reads REST function: one wallet with its card, by invoice, its status, the public countdown, and
the admin stats and active list. Apart from wallet making so that a read's cold start loads no KMS,
Scheduler or key-generation code."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, caller, ok, page_of, rest_function
from shared.bootstrap import app as capabilities
from shared.wallets.output import (
    ActiveWalletPage,
    CountdownOut,
    WalletAnswer,
    WalletStatsOut,
    WalletStatusOut,
)

router = APIGatewayRouter()


@router.get("/api/v2/invoice-wallets/stats", summary="Admin: the tenant's wallet counters")
def wallet_stats() -> Answer[WalletStatsOut]:
    return ok(WalletStatsOut.of(capabilities().wallet_queries.stats(caller(router))))


@router.get("/api/v2/invoice-wallets/active", summary="Admin: the tenant's active wallets, newest first")
def active_wallets(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Answer[ActiveWalletPage]:
    page, now = capabilities().wallet_queries.active(caller(router), limit, cursor)
    return ok(ActiveWalletPage.of(page_of("wallets", [w.to_api(now) for w in page.items], page.next_cursor)))


@router.get("/api/v2/invoice-wallets/by-invoice/<invoice_id>", summary="The wallet of an invoice")
def wallet_by_invoice(invoice_id: str) -> Answer[WalletAnswer]:
    view = capabilities().wallet_queries.by_invoice(caller(router), invoice_id)
    return ok(WalletAnswer.of(view.to_api()), headers={"X-Wallet-ID": view.wallet.wallet_id})


@router.get("/api/v2/invoice-wallets/<wallet_id>", summary="A wallet and its card")
def get_wallet(wallet_id: str) -> Answer[WalletAnswer]:
    view = capabilities().wallet_queries.get(caller(router), wallet_id)
    return ok(WalletAnswer.of(view.to_api()), headers={"X-Wallet-ID": view.wallet.wallet_id})


@router.get("/api/v2/invoice-wallets/<wallet_id>/status", summary="A wallet's status and countdown")
def wallet_status(wallet_id: str) -> Answer[WalletStatusOut]:
    return ok(WalletStatusOut.of(capabilities().wallet_queries.status(caller(router), wallet_id)))


@router.get(
    "/api/v2/invoice-wallets/<wallet_id>/countdown", summary="Public countdown of an ephemeral wallet"
)
def wallet_countdown(wallet_id: str) -> Answer[CountdownOut]:
    countdown = CountdownOut.of(capabilities().wallet_queries.countdown(wallet_id))
    return ok(countdown, headers={"X-Countdown-Seconds": str(countdown.remaining_seconds)})


app, lambda_handler = rest_function(router)
