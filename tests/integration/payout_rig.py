"""Payouts on the consumer rig (moto, the Tempo and Circle stand-ins live): the payouts function through API
events, the worker as the bus rule invokes it, and a treasury funded as a deposit funds it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from shared.ledger import movements
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS
from shared.treasury.service import treasury_wallet_id
from tests.integration.conftest import FakeLambdaContext, api_event, body_of
from tests.integration.consumer_rig import Rig

TENANT = "tenant-a"
MAKER = {"sub": "usr_maker", "tenant_id": TENANT, "roles": "merchant"}
CHECKER = {"sub": "usr_checker", "tenant_id": TENANT, "roles": "admin"}
SECOND = {"sub": "usr_second", "tenant_id": TENANT, "roles": "admin"}
USDC = 10**6


def address() -> str:
    return "0x" + secrets.token_hex(20)


def call(
    method: str, path: str, principal: dict[str, str] | None = MAKER, body: Any = None, **kwargs: Any
) -> dict[str, Any]:
    import functions.payouts.handler as payouts

    event = api_event(method, path, body=body, principal=principal, **kwargs)
    return dict(payouts.lambda_handler(event, FakeLambdaContext(function_name="payouts")))


def data(response: dict[str, Any], status: int = 200) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    return dict(body_of(response)["data"])


def error(response: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    body = body_of(response)
    assert body["code"] == code, response["body"]
    return dict(body)


def create(items: list[dict[str, Any]], purpose: str = "vendor", **extra: Any) -> dict[str, Any]:
    body = {
        "purpose": purpose,
        "items": items,
        "reference": extra.pop("reference", f"ref-{secrets.token_hex(4)}"),
    }
    return call("POST", "/api/v1/payouts", MAKER, {**body, **extra})


def item(to: dict[str, str], amount: str, reference: str, currency: str = "USDC") -> dict[str, Any]:
    return {"recipient": to, "amount": amount, "currency": currency, "reference": reference}


def run(payout_id: str) -> dict[str, Any]:
    """The worker as the bus rule invokes it on `payout.approved`."""
    import functions.payout_worker.handler as worker

    event = {
        "source": "monay.wallets",
        "detail-type": "payout.approved",
        "detail": {"event": "payout.approved", "data": {"payout_id": payout_id}},
    }
    return dict(worker.lambda_handler(event, FakeLambdaContext(function_name="payout_worker")))


def fund_treasury(rig: Rig, amount: str, coin: str = "USDC", at: str = "tempo") -> str:
    """The treasury made (first use) and funded as a deposit funds it: the journal and the tokens minted at
    the provider to its address."""
    view = data(call("GET", "/api/v1/treasury", MAKER))["treasury"]
    cents = int(Decimal(amount) * 100)
    journal = movements.funding(
        operation_id=f"seed-treasury-{coin}-{amount}-{secrets.token_hex(4)}",
        wallet_id=view["wallet_id"],
        tenant_id=TENANT,
        currency=STABLECOINS[coin],
        token=coin,
        fiat_amount=cents,
        created_at=rig.clock.now(),
    )
    rig.ledger.post(journal)
    rig.mint_at(at, coin, cents * 10_000, view["wallet_address"])
    return str(view["wallet_address"])


def treasury_balance(rig: Rig, coin: str = "USDC") -> int:
    return rig.ledger.balance(Account.wallet(treasury_wallet_id(TENANT), coin))


def payout_items(rig: Rig) -> list[dict[str, Any]]:
    from tests.integration.conftest import scan_all

    return [i for i in scan_all(rig.dynamodb) if i["pk"]["S"].startswith(("PAYOUT", "LEDGER#"))]
