"""Refunds of succeeded PaymentIntents or charges, partial or full, never beyond what was captured."""

from __future__ import annotations

from typing import Any

from local.stripe import params as p
from local.stripe.errors import invalid_request, no_such, refused
from local.stripe.payments import money
from local.stripe.state import RequestContext, Store, new_id

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params, ("payment_intent", "charge", "amount", "reason", "metadata", "instructions_email")
    )
    intent_id, charge_id = p.string(params, "payment_intent"), p.string(params, "charge")
    if bool(intent_id) == bool(charge_id):
        raise invalid_request(
            "One of the following params should be provided for this request: payment_intent or charge."
        )
    if intent_id:
        intent = store.get(intent_id, "payment_intent")
        if intent is None:
            raise no_such("payment_intent", intent_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded":
            raise refused(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        charge = store.objects[intent["latest_charge"]]
    else:
        found = store.get(str(charge_id), "charge")
        if found is None:
            raise no_such("charge", str(charge_id), param="charge", status=400)
        charge = found
        if charge["status"] != "succeeded":
            raise refused(
                f"Charge {charge_id} has not succeeded and cannot be refunded.", code="charge_not_refundable"
            )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    amount = p.integer(params["amount"], "amount", minimum=1) if "amount" in params else remaining
    if remaining == 0:
        raise refused(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    if amount > remaining:
        raise refused(
            f"Refund amount ({money(amount, charge['currency'])}) is greater than unrefunded amount "
            f"on charge ({money(remaining, charge['currency'])})",
            param="amount",
            code="amount_too_large",
        )
    refund = {
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": charge["id"],
        "created": store.now(),
        "currency": charge["currency"],
        "metadata": p.metadata(params.get("metadata")),
        "payment_intent": charge["payment_intent"],
        "reason": p.choice(params, "reason", REFUND_REASONS),
        "status": "succeeded",
    }
    store.add(refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    store.emit("refund.created", refund, ctx)
    store.emit("charge.refunded", charge, ctx, previous_attributes=previous)
    return refund


def get_refund(store: Store, ctx: RequestContext, params: dict[str, Any], refund_id: str) -> dict[str, Any]:
    refund = store.get(refund_id, "refund")
    if refund is None:
        raise no_such("refund", refund_id)
    return refund


def list_refunds(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, ("payment_intent", "charge", "limit", "starting_after", "ending_before"))
    items = store.find("refund", payment_intent=params.get("payment_intent"), charge=params.get("charge"))
    return store.page(items, params, "/v1/refunds")
