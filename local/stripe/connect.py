"""Stripe Connect, as consumer withdrawals use it: custom connected accounts with a bank account, transfers
from the platform to them (and their reversals), and payouts from a connected account (the `Stripe-Account`
header) to its bank, `standard` or `instant`; a control fails or pays a payout, as the bank would, each
change emitted as its signed (Connect) event with the event's `account`."""

from __future__ import annotations

from typing import Any

from local.stripe import params as p
from local.stripe.errors import invalid_request, no_such, refused
from local.stripe.state import RequestContext, Store, new_id

ACCOUNT, BANK, TRANSFER, REVERSAL, PAYOUT = (
    "account",
    "bank_account",
    "transfer",
    "transfer_reversal",
    "payout",
)
STANDARD_ARRIVAL_SECONDS = 2 * 24 * 3600
# Stripe's payout failure codes the control may use.
FAILURE_CODES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "could_not_process": "The bank could not process this payout.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "no_account": "The bank account details on file are probably incorrect.",
}


def create_account(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("type", "country", "email", "capabilities", "external_account", "metadata"))
    kind = p.choice(params, "type", ("custom", "express", "standard"), "custom")
    account_id = new_id("acct_", 16)
    banks: list[dict[str, Any]] = []
    token = p.string(params, "external_account")
    if token:
        banks.append(_bank(store, account_id, token))
    requested = params.get("capabilities") or {}
    if not isinstance(requested, dict):
        raise invalid_request("Invalid hash: capabilities", param="capabilities")
    account = {
        "id": account_id,
        "object": ACCOUNT,
        "type": kind,
        "country": p.string(params, "country") or "US",
        "email": p.string(params, "email"),
        "capabilities": {name: "active" for name in requested},
        "charges_enabled": False,
        "payouts_enabled": bool(banks),
        "created": store.now(),
        "default_currency": "usd",
        "external_accounts": {
            "object": "list",
            "data": banks,
            "has_more": False,
            "url": f"/v1/accounts/{account_id}/external_accounts",
        },
        "metadata": p.metadata(params.get("metadata")),
        # The stand-in's own ledger of the connected account's available balance, by currency.
        "_balance": {},
    }
    store.add(account)
    store.emit("account.updated", _public(account), ctx)
    return _public(account)


def get_account(store: Store, ctx: RequestContext, params: dict[str, Any], account_id: str) -> dict[str, Any]:
    p.reject_unknown(params, ())
    return _public(_account(store, account_id))


def create_transfer(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params, ("amount", "currency", "destination", "metadata", "transfer_group", "description")
    )
    amount = p.integer(p.required(params, "amount"), "amount", minimum=1)
    currency = p.currency(params)
    account = _account(store, str(p.required(params, "destination")), param="destination")
    transfer_id = new_id("tr_")
    transfer = {
        "id": transfer_id,
        "object": TRANSFER,
        "amount": amount,
        "amount_reversed": 0,
        "currency": currency,
        "created": store.now(),
        "description": p.string(params, "description"),
        "destination": account["id"],
        "destination_payment": new_id("py_"),
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/transfers/{transfer_id}/reversals",
        },
        "reversed": False,
        "transfer_group": p.string(params, "transfer_group"),
    }
    balance = account["_balance"]
    balance[currency] = balance.get(currency, 0) + amount
    store.add(transfer)
    store.emit("transfer.created", transfer, ctx)
    return transfer


def create_reversal(
    store: Store, ctx: RequestContext, params: dict[str, Any], transfer_id: str
) -> dict[str, Any]:
    p.reject_unknown(params, ("amount", "metadata", "description"))
    transfer = store.get(transfer_id, TRANSFER)
    if transfer is None:
        raise no_such("transfer", transfer_id)
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = p.integer(params["amount"], "amount", minimum=1) if "amount" in params else left
    account = _account(store, transfer["destination"])
    available = account["_balance"].get(transfer["currency"], 0)
    if amount > left:
        raise refused(
            f"You cannot reverse more than the transfer's remaining {left}.",
            param="amount",
            code="amount_too_large",
        )
    if amount > available:
        raise refused(
            "The connected account has insufficient funds to reverse this transfer.",
            code="balance_insufficient",
        )
    reversal = {
        "id": new_id("trr_"),
        "object": REVERSAL,
        "amount": amount,
        "currency": transfer["currency"],
        "created": store.now(),
        "metadata": p.metadata(params.get("metadata")),
        "transfer": transfer_id,
    }
    account["_balance"][transfer["currency"]] = available - amount
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    transfer["reversals"]["data"].insert(0, reversal)
    store.add(reversal)
    store.emit("transfer.reversed", transfer, ctx)
    return reversal


def create_payout(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("amount", "currency", "method", "destination", "metadata", "description"))
    if not ctx.account:
        raise invalid_request("This stand-in pays out from connected accounts only (send Stripe-Account).")
    account = _account(store, ctx.account)
    amount = p.integer(p.required(params, "amount"), "amount", minimum=1)
    currency = p.currency(params)
    method = p.choice(params, "method", ("standard", "instant"), "standard")
    banks = account["external_accounts"]["data"]
    destination = p.string(params, "destination") or (banks[0]["id"] if banks else None)
    if destination is None or destination not in {bank["id"] for bank in banks}:
        raise invalid_request("The connected account has no such bank account.", param="destination")
    available = account["_balance"].get(currency, 0)
    if amount > available:
        raise refused(
            "You have insufficient funds in your Stripe account for this transfer.",
            code="balance_insufficient",
        )
    account["_balance"][currency] = available - amount
    now = store.now()
    payout = {
        "id": new_id("po_"),
        "object": PAYOUT,
        "amount": amount,
        "arrival_date": now if method == "instant" else now + STANDARD_ARRIVAL_SECONDS,
        "automatic": False,
        "created": now,
        "currency": currency,
        "description": p.string(params, "description"),
        "destination": destination,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "method": method,
        "status": "pending",
        "type": "bank_account",
        "_account": account["id"],
    }
    store.add(payout)
    store.emit("payout.created", _public(payout), ctx, account=account["id"])
    return _public(payout)


def get_payout(store: Store, ctx: RequestContext, params: dict[str, Any], payout_id: str) -> dict[str, Any]:
    p.reject_unknown(params, ())
    payout = store.get(payout_id, PAYOUT)
    if payout is None or (ctx.account and payout["_account"] != ctx.account):
        raise no_such("payout", payout_id)
    return _public(payout)


def settle_payout(store: Store, payout_id: str, outcome: str, code: str | None = None) -> dict[str, Any]:
    """The bank's answer: `paid`, or `failed` with a failure code (the amount returns to the connected
    account's balance). Each emits its signed Connect event."""
    with store.lock:
        payout = store.get(payout_id, PAYOUT)
        if payout is None:
            raise no_such("payout", payout_id)
        if payout["status"] not in ("pending", "in_transit"):
            raise refused(f"Payout {payout_id} is {payout['status']}; nothing to settle.")
        if outcome == "paid":
            payout["status"] = "paid"
        elif outcome == "failed":
            failure = code or "account_closed"
            if failure not in FAILURE_CODES:
                raise invalid_request(f"code must be one of {', '.join(FAILURE_CODES)}", param="code")
            payout.update(status="failed", failure_code=failure, failure_message=FAILURE_CODES[failure])
            account = _account(store, payout["_account"])
            balance = account["_balance"]
            balance[payout["currency"]] = balance.get(payout["currency"], 0) + payout["amount"]
        else:
            raise invalid_request("outcome must be paid or failed", param="outcome")
        store.emit(f"payout.{payout['status']}", _public(payout), None, account=payout["_account"])
        store.save()
        return _public(payout)


def _bank(store: Store, account_id: str, token: str) -> dict[str, Any]:
    if not (token.startswith("btok_") or token.startswith("ba_")):
        raise invalid_request(f"No such token: '{token}'", param="external_account", code="resource_missing")
    bank = {
        "id": new_id("ba_"),
        "object": BANK,
        "account": account_id,
        "account_holder_type": "individual",
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": "usd",
        "default_for_currency": True,
        "last4": "6789",
        "routing_number": "110000000",
        "status": "new",
    }
    store.add(bank)
    return bank


def _account(store: Store, account_id: str, param: str | None = None) -> dict[str, Any]:
    account = store.get(account_id, ACCOUNT)
    if account is None:
        raise no_such("account", account_id, param=param)
    return account


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe shows it: without the stand-in's own bookkeeping (`_`-prefixed keys)."""
    return {key: value for key, value in obj.items() if not key.startswith("_")}
