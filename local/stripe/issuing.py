"""Stripe Issuing: cardholders, virtual cards with spending controls, and test-mode authorizations."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from local.stripe import params as p
from local.stripe.errors import invalid_request, no_such, refused
from local.stripe.state import RequestContext, Store, new_id

INTERVALS = ("per_authorization", "daily", "weekly", "monthly", "yearly", "all_time")
SECRET_CARD_FIELDS = ("number", "cvc")
CARD_LIFETIME_YEARS = 3


def create_cardholder(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("name", "type", "email", "phone_number", "billing", "metadata", "status"))
    name = p.required(params, "name")
    holder_type = p.choice(params, "type", ("individual", "company"), default="individual")
    billing = params.get("billing")
    if not isinstance(billing, dict) or not isinstance(billing.get("address"), dict):
        raise invalid_request("Missing required param: billing[address].", param="billing[address]")
    address = billing["address"]
    for part in ("line1", "city", "postal_code", "country"):
        if not address.get(part):
            raise invalid_request(
                f"Missing required param: billing[address][{part}].", param=f"billing[address][{part}]"
            )
    holder = {
        "id": new_id("ich_"),
        "object": "issuing.cardholder",
        "billing": {
            "address": {
                k: address.get(k) for k in ("line1", "line2", "city", "state", "postal_code", "country")
            }
        },
        "company": None,
        "created": store.now(),
        "email": p.string(params, "email"),
        "individual": None,
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "name": name,
        "phone_number": p.string(params, "phone_number"),
        "requirements": {"disabled_reason": None, "past_due": []},
        "spending_controls": None,
        "status": p.choice(params, "status", ("active", "inactive"), default="active"),
        "type": holder_type,
    }
    store.add(holder)
    store.emit("issuing_cardholder.created", holder, ctx)
    return holder


def get_cardholder(
    store: Store, ctx: RequestContext, params: dict[str, Any], cardholder_id: str
) -> dict[str, Any]:
    holder = store.get(cardholder_id, "issuing.cardholder")
    if holder is None:
        raise no_such("issuing cardholder", cardholder_id)
    return holder


def list_cardholders(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("limit", "starting_after", "ending_before", "status", "email"))
    items = store.find("issuing.cardholder", status=params.get("status"), email=params.get("email"))
    return store.page(items, params, "/v1/issuing/cardholders")


def _spending_controls(value: Any, currency: str) -> dict[str, Any]:
    if value is None or value == "":
        value = {}
    if not isinstance(value, dict):
        raise invalid_request("Invalid hash: spending_controls", param="spending_controls")
    p.reject_unknown(
        value, ("spending_limits", "allowed_categories", "blocked_categories", "allowed_merchant_countries")
    )
    limits = value.get("spending_limits") or []
    if not isinstance(limits, list):
        raise invalid_request(
            "Invalid array: spending_controls[spending_limits]", param="spending_controls[spending_limits]"
        )
    parsed = []
    for index, limit in enumerate(limits):
        param = f"spending_controls[spending_limits][{index}]"
        if not isinstance(limit, dict):
            raise invalid_request(f"Invalid hash: {param}", param=param)
        amount = p.integer(p.required(limit, "amount"), f"{param}[amount]", minimum=0)
        interval = limit.get("interval")
        if interval not in INTERVALS:
            raise invalid_request(
                f"Invalid {param}[interval]: must be one of {', '.join(INTERVALS)}",
                param=f"{param}[interval]",
            )
        categories = p.string_list(limit, "categories")
        parsed.append({"amount": amount, "categories": categories or None, "interval": interval})
    return {
        "allowed_categories": p.string_list(value, "allowed_categories") or None,
        "allowed_merchant_countries": p.string_list(value, "allowed_merchant_countries") or None,
        "blocked_categories": p.string_list(value, "blocked_categories") or None,
        "blocked_merchant_countries": None,
        "spending_limits": parsed,
        "spending_limits_currency": currency if parsed else None,
    }


def _refuse_secret_expand(params: dict[str, Any]) -> list[str]:
    expand = p.string_list(params, "expand") or []
    for path in expand:
        if path.split(".")[-1] in SECRET_CARD_FIELDS:
            raise invalid_request(
                "This stand-in never returns a full card number or CVC; use Issuing Elements to show them.",
                param="expand",
            )
    return expand


def create_card(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params,
        ("cardholder", "currency", "type", "status", "spending_controls", "metadata", "financial_account"),
    )
    _refuse_secret_expand(params)
    holder_id = p.required(params, "cardholder")
    holder = store.get(holder_id, "issuing.cardholder")
    if holder is None:
        raise no_such("issuing cardholder", holder_id, param="cardholder", status=400)
    currency = p.currency(params)
    card_type = p.choice(params, "type", ("virtual", "physical"))
    if card_type is None:
        raise invalid_request("Missing required param: type.", param="type")
    if card_type == "physical":
        raise invalid_request(
            "Physical cards need shipping, which this stand-in does not ship.", param="type"
        )
    status = p.choice(params, "status", ("active", "inactive"), default="inactive")
    expires = datetime.fromtimestamp(store.now(), tz=UTC) + timedelta(days=365 * CARD_LIFETIME_YEARS)
    card = {
        "id": new_id("ic_"),
        "object": "issuing.card",
        "brand": "Visa",
        "cancellation_reason": None,
        "cardholder": holder["id"],
        "created": store.now(),
        "currency": currency,
        "exp_month": expires.month,
        "exp_year": expires.year,
        "last4": f"{secrets.randbelow(10_000):04d}",
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "replaced_by": None,
        "replacement_for": None,
        "spending_controls": _spending_controls(params.get("spending_controls"), currency),
        "status": status,
        "type": card_type,
        "wallets": None,
    }
    store.add(card)
    store.emit("issuing_card.created", _with_cardholder(store, card), ctx)
    return _with_cardholder(store, card)


def _with_cardholder(store: Store, card: dict[str, Any]) -> dict[str, Any]:
    """Stripe embeds the whole cardholder in a card."""
    return {**card, "cardholder": store.render(store.objects[card["cardholder"]])}


def _card(store: Store, card_id: str, param: str | None = None, status: int = 404) -> dict[str, Any]:
    card = store.get(card_id, "issuing.card")
    if card is None:
        raise no_such("issuing card", card_id, param=param, status=status)
    return card


def get_card(store: Store, ctx: RequestContext, params: dict[str, Any], card_id: str) -> dict[str, Any]:
    _refuse_secret_expand(params)
    return _with_cardholder(store, _card(store, card_id))


def update_card(store: Store, ctx: RequestContext, params: dict[str, Any], card_id: str) -> dict[str, Any]:
    p.reject_unknown(params, ("status", "spending_controls", "metadata", "cancellation_reason"))
    _refuse_secret_expand(params)
    card = _card(store, card_id)
    if card["status"] == "canceled":
        raise refused("This card has been canceled and can no longer be updated.", code="card_canceled")
    status = p.choice(params, "status", ("active", "inactive", "canceled"))
    reason = p.choice(params, "cancellation_reason", ("lost", "stolen"))
    previous: dict[str, Any] = {}
    if status is not None and status != card["status"]:
        previous["status"] = card["status"]
        card["status"] = status
        if status == "canceled":
            previous["cancellation_reason"] = card["cancellation_reason"]
            card["cancellation_reason"] = reason
    if "spending_controls" in params:
        previous["spending_controls"] = card["spending_controls"]
        card["spending_controls"] = _spending_controls(params["spending_controls"], card["currency"])
    if "metadata" in params:
        previous["metadata"] = card["metadata"]
        card["metadata"] = p.metadata(params["metadata"], card["metadata"])
    if previous:
        store.emit("issuing_card.updated", _with_cardholder(store, card), ctx, previous_attributes=previous)
    return _with_cardholder(store, card)


def list_cards(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params, ("cardholder", "status", "type", "limit", "starting_after", "ending_before", "last4")
    )
    items = store.find(
        "issuing.card",
        cardholder=params.get("cardholder"),
        status=params.get("status"),
        type=params.get("type"),
        last4=params.get("last4"),
    )
    page = store.page(items, params, "/v1/issuing/cards")
    page["data"] = [_with_cardholder(store, card) for card in page["data"]]
    return page


def _window_start(interval: str, now: int) -> int | None:
    moment = datetime.fromtimestamp(now, tz=UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "daily": day,
        "weekly": day - timedelta(days=(day.weekday() + 1) % 7),
        "monthly": day.replace(day=1),
        "yearly": day.replace(month=1, day=1),
    }
    start = starts.get(interval)
    return int(start.timestamp()) if start else None


def approved_total(store: Store, card_id: str, since: int | None = None) -> int:
    return sum(
        auth["amount"]
        for auth in store.find("issuing.authorization", card=card_id)
        if auth["approved"] and (since is None or auth["created"] >= since)
    )


def _decline_reason(store: Store, card: dict[str, Any], amount: int, category: str) -> str | None:
    if card["status"] != "active":
        return "card_canceled" if card["status"] == "canceled" else "card_inactive"
    controls = card["spending_controls"]
    if controls["blocked_categories"] and category in controls["blocked_categories"]:
        return "spending_controls"
    if controls["allowed_categories"] and category not in controls["allowed_categories"]:
        return "spending_controls"
    for limit in controls["spending_limits"]:
        if limit["categories"] and category not in limit["categories"]:
            continue
        if limit["interval"] == "per_authorization":
            spent = 0
        elif limit["interval"] == "all_time":
            spent = approved_total(store, card["id"])
        else:
            spent = approved_total(store, card["id"], _window_start(limit["interval"], store.now()))
        if spent + amount > limit["amount"]:
            return "spending_controls"
    return None


def create_test_authorization(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params,
        (
            "card",
            "amount",
            "currency",
            "merchant_data",
            "authorization_method",
            "is_amount_controllable",
            "metadata",
        ),
    )
    card = _card(store, p.required(params, "card"), param="card", status=400)
    amount = p.integer(p.required(params, "amount"), "amount", minimum=0)
    currency = (p.string(params, "currency") or card["currency"]).lower()
    if currency != card["currency"]:
        raise invalid_request("This stand-in authorizes only in the card's currency.", param="currency")
    merchant = params.get("merchant_data") or {}
    if not isinstance(merchant, dict):
        raise invalid_request("Invalid hash: merchant_data", param="merchant_data")
    merchant_data = {
        "category": merchant.get("category", "ac_refrigeration_repair"),
        "category_code": merchant.get("category_code", "7623"),
        "city": merchant.get("city", "San Francisco"),
        "country": merchant.get("country", "US"),
        "name": merchant.get("name", "Test merchant"),
        "network_id": merchant.get("network_id", "1234567890"),
        "postal_code": merchant.get("postal_code", "94103"),
        "state": merchant.get("state", "CA"),
    }
    reason = _decline_reason(store, card, amount, merchant_data["category"])
    approved = reason is None
    auth = {
        "id": new_id("iauth_"),
        "object": "issuing.authorization",
        "amount": amount if approved else 0,
        "amount_details": {"atm_fee": None, "cashback_amount": None},
        "approved": approved,
        "authorization_method": p.choice(
            params, "authorization_method", ("online", "chip", "contactless", "keyed_in", "swipe"), "online"
        ),
        "balance_transactions": [],
        "card": card["id"],
        "cardholder": card["cardholder"],
        "created": store.now(),
        "currency": currency,
        "livemode": False,
        "merchant_amount": amount,
        "merchant_currency": currency,
        "merchant_data": merchant_data,
        "metadata": p.metadata(params.get("metadata")),
        "pending_request": None,
        "request_history": [
            {
                "amount": amount,
                "approved": approved,
                "created": store.now(),
                "currency": currency,
                "merchant_amount": amount,
                "merchant_currency": currency,
                "reason": "webhook_approved" if approved else reason,
            }
        ],
        "status": "pending" if approved else "closed",
        "transactions": [],
        "wallet": None,
    }
    store.add(auth)
    rendered = {**auth, "card": _with_cardholder(store, card)}
    store.emit("issuing_authorization.created", rendered, ctx)
    return rendered


def get_authorization(
    store: Store, ctx: RequestContext, params: dict[str, Any], authorization_id: str
) -> dict[str, Any]:
    auth = store.get(authorization_id, "issuing.authorization")
    if auth is None:
        raise no_such("issuing authorization", authorization_id)
    return {**auth, "card": _with_cardholder(store, store.objects[auth["card"]])}


def list_authorizations(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("card", "cardholder", "status", "limit", "starting_after", "ending_before"))
    items = store.find(
        "issuing.authorization",
        card=params.get("card"),
        cardholder=params.get("cardholder"),
        status=params.get("status"),
    )
    page = store.page(items, params, "/v1/issuing/authorizations")
    page["data"] = [{**a, "card": _with_cardholder(store, store.objects[a["card"]])} for a in page["data"]]
    return page
