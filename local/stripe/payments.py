"""PaymentIntents, their charges and refunds, with Stripe's test payment methods."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from local.stripe import params as p
from local.stripe.errors import StripeError, invalid_request, no_such, refused
from local.stripe.state import RequestContext, Store, new_id

MIN_AMOUNT = 50
MAX_AMOUNT = 99_999_999
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


@dataclass(frozen=True)
class TestMethod:
    """What one of Stripe's test PaymentMethod ids does when confirmed."""

    kind: str
    brand: str = "visa"
    last4: str = "4242"
    code: str | None = None
    decline_code: str | None = None
    message: str = ""


_DECLINED = "Your card was declined."
TEST_METHODS: dict[str, TestMethod] = {
    "pm_card_visa": TestMethod("card"),
    "pm_card_visa_debit": TestMethod("card", last4="5556"),
    "pm_card_mastercard": TestMethod("card", "mastercard", "4444"),
    "pm_card_amex": TestMethod("card", "amex", "8431"),
    "pm_card_us": TestMethod("card"),
    "pm_card_chargeDeclined": TestMethod(
        "card", last4="0002", code="card_declined", decline_code="generic_decline", message=_DECLINED
    ),
    "pm_card_insufficientFunds": TestMethod(
        "card",
        last4="9995",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestMethod(
        "card",
        last4="9995",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedLostCard": TestMethod(
        "card", last4="9987", code="card_declined", decline_code="lost_card", message=_DECLINED
    ),
    "pm_card_chargeDeclinedStolenCard": TestMethod(
        "card", last4="9979", code="card_declined", decline_code="stolen_card", message=_DECLINED
    ),
    "pm_card_chargeDeclinedExpiredCard": TestMethod(
        "card", last4="0069", code="expired_card", message="Your card has expired."
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestMethod(
        "card", last4="0127", code="incorrect_cvc", message="Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedProcessingError": TestMethod(
        "card",
        last4="0119",
        code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_usBankAccount": TestMethod("us_bank_account", "", "6789"),
    "pm_usBankAccount_success": TestMethod("us_bank_account", "", "6789"),
    "pm_usBankAccount_insufficientFunds": TestMethod(
        "us_bank_account",
        "",
        "2227",
        code="insufficient_funds",
        message="The customer's account has insufficient funds.",
    ),
    "pm_usBankAccount_accountClosed": TestMethod(
        "us_bank_account",
        "",
        "0113",
        code="account_closed",
        message="The customer's bank account has been closed.",
    ),
}

_CREATE_PARAMS = (
    "amount", "currency", "payment_method", "confirm", "payment_method_types", "metadata",
    "allowed_payment_method_types", "excluded_payment_method_types",
    "capture_method", "off_session", "description", "customer", "receipt_email",
    "automatic_payment_methods", "statement_descriptor", "statement_descriptor_suffix",
    "setup_future_usage", "mandate_data", "return_url", "error_on_requires_action",
    "confirmation_method", "payment_method_options",
)  # fmt: skip
_CONFIRM_PARAMS = (
    "payment_method", "off_session", "return_url", "mandate_data", "receipt_email",
    "error_on_requires_action", "payment_method_options", "setup_future_usage",
)  # fmt: skip


def money(amount: int, currency: str) -> str:
    return f"{amount // 100}.{amount % 100:02d} {currency}"


def _method(params: dict[str, Any], allowed: list[str]) -> str | None:
    method_id = p.string(params, "payment_method")
    if method_id is None:
        return None
    method = TEST_METHODS.get(method_id)
    if method is None:
        raise no_such("PaymentMethod", method_id, param="payment_method", status=400)
    if method.kind not in allowed:
        raise invalid_request(
            f"The PaymentMethod provided ({method.kind}) is not allowed for this PaymentIntent. Please "
            f"attach a PaymentMethod of one of the following types: {', '.join(allowed)}.",
            param="payment_method",
            code="payment_intent_incompatible_payment_method",
        )
    return method_id


def _intent(store: Store, intent_id: str) -> dict[str, Any]:
    intent = store.get(intent_id, "payment_intent")
    if intent is None:
        raise no_such("payment_intent", intent_id)
    return intent


def create_intent(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(params, _CREATE_PARAMS)
    amount = p.integer(p.required(params, "amount"), "amount")
    currency = p.currency(params)
    if amount < MIN_AMOUNT:
        raise invalid_request(
            f"Amount must be at least {money(MIN_AMOUNT, currency)}", param="amount", code="amount_too_small"
        )
    if amount > MAX_AMOUNT:
        raise invalid_request(
            f"Amount must be no more than {money(MAX_AMOUNT, currency)}",
            param="amount",
            code="amount_too_large",
        )
    capture = p.choice(
        params, "capture_method", ("automatic", "automatic_async", "manual"), "automatic_async"
    )
    if capture == "manual":
        raise invalid_request("This stand-in captures automatically only.", param="capture_method")
    # API versions from 2026 name the field allowed_payment_method_types; older ones payment_method_types.
    allowed = p.string_list(params, "allowed_payment_method_types")
    types = allowed or p.string_list(params, "payment_method_types") or ["card", "us_bank_account"]
    for kind in types:
        if kind not in ("card", "us_bank_account"):
            raise invalid_request(
                f"The payment method type provided: {kind} is invalid.", param="payment_method_types"
            )
    confirm = p.boolean(params, "confirm")
    off_session = p.boolean(params, "off_session")
    if off_session and not confirm:
        raise invalid_request("off_session can only be used when confirm=true.", param="off_session")
    method_id = _method(params, types)
    intent_id = new_id("pi_")
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "allowed_payment_method_types": allowed,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture,
        "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
        "confirmation_method": "automatic",
        "created": store.now(),
        "currency": currency,
        "customer": p.string(params, "customer"),
        "description": p.string(params, "description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "next_action": None,
        "payment_method": method_id,
        "payment_method_types": types,
        "receipt_email": p.string(params, "receipt_email"),
        "setup_future_usage": None,
        "statement_descriptor": p.string(params, "statement_descriptor"),
        "status": "requires_confirmation" if method_id else "requires_payment_method",
    }
    store.add(intent)
    store.emit("payment_intent.created", intent, ctx)
    if confirm:
        return _confirm(store, ctx, intent)
    return intent


def confirm_intent(
    store: Store, ctx: RequestContext, params: dict[str, Any], intent_id: str
) -> dict[str, Any]:
    p.reject_unknown(params, _CONFIRM_PARAMS)
    intent = _intent(store, intent_id)
    method_id = _method(params, intent["payment_method_types"])
    if intent["status"] not in CONFIRMABLE:
        raise refused(
            f"You cannot confirm this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state",
        )
    if method_id is not None:
        intent["payment_method"] = method_id
    return _confirm(store, ctx, intent)


def _confirm(store: Store, ctx: RequestContext, intent: dict[str, Any]) -> dict[str, Any]:
    if intent["payment_method"] is None:
        raise refused(
            "You cannot confirm this PaymentIntent because it's missing a payment method. Update the "
            "PaymentIntent with a payment method and then confirm it again.",
            code="payment_intent_unexpected_state",
        )
    method = TEST_METHODS[intent["payment_method"]]
    charge = _new_charge(store, intent, method)
    intent["latest_charge"] = charge["id"]
    intent["last_payment_error"] = None
    if method.kind == "us_bank_account":
        charge["status"] = "pending"
        intent["status"] = "processing"
        store.emit("charge.pending", charge, ctx)
        store.emit("payment_intent.processing", intent, ctx)
        return intent
    if method.code is None:
        _succeed(store, ctx, intent, charge)
        return intent
    _fail(store, ctx, intent, charge, method)
    raise StripeError(
        402,
        "card_error",
        method.message,
        code=method.code,
        decline_code=method.decline_code,
        extra={
            "charge": charge["id"],
            "payment_intent": store.render(intent),
            "payment_method": {"id": intent["payment_method"], "object": "payment_method", "type": "card"},
        },
        should_retry=False,
    )


def _new_charge(store: Store, intent: dict[str, Any], method: TestMethod) -> dict[str, Any]:
    details: dict[str, Any] = {"type": method.kind}
    if method.kind == "card":
        details["card"] = {"brand": method.brand, "last4": method.last4, "funding": "credit", "country": "US"}
    else:
        details["us_bank_account"] = {
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "last4": method.last4,
        }
    charge = {
        "id": new_id("ch_"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "balance_transaction": None,
        "captured": False,
        "created": store.now(),
        "currency": intent["currency"],
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "outcome": None,
        "paid": False,
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "payment_method_details": details,
        "refunded": False,
        "status": "pending",
    }
    return store.add(charge)


def _succeed(
    store: Store, ctx: RequestContext | None, intent: dict[str, Any], charge: dict[str, Any]
) -> None:
    charge.update(
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=charge["amount"],
        balance_transaction=new_id("txn_"),
        outcome={
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "type": "authorized",
        },
    )
    intent.update(status="succeeded", amount_received=intent["amount"])
    store.emit("charge.succeeded", charge, ctx)
    store.emit("payment_intent.succeeded", intent, ctx)


def _fail(
    store: Store,
    ctx: RequestContext | None,
    intent: dict[str, Any],
    charge: dict[str, Any],
    method: TestMethod,
) -> None:
    error_type = "card_error" if method.kind == "card" else "invalid_request_error"
    charge.update(
        status="failed",
        failure_code=method.code,
        failure_message=method.message,
        outcome={
            "network_status": "declined_by_network",
            "reason": method.decline_code or method.code,
            "risk_level": "normal",
            "type": "issuer_declined",
        },
    )
    error: dict[str, Any] = {
        "type": error_type,
        "code": method.code,
        "message": method.message,
        "charge": charge["id"],
        "payment_method": {"id": intent["payment_method"], "object": "payment_method", "type": method.kind},
    }
    if method.decline_code:
        error["decline_code"] = method.decline_code
    intent.update(status="requires_payment_method", last_payment_error=error)
    store.emit("charge.failed", charge, ctx)
    store.emit("payment_intent.payment_failed", intent, ctx)


def complete_processing(store: Store, intent_id: str, outcome: str | None = None) -> dict[str, Any]:
    """Settle a processing (ACH) intent as the bank would: by its test method, or by `outcome`."""
    with store.lock:
        intent = _intent(store, intent_id)
        if intent["status"] != "processing":
            raise refused(f"PaymentIntent {intent_id} is {intent['status']}, not processing.")
        method = TEST_METHODS[intent["payment_method"]]
        charge = store.objects[intent["latest_charge"]]
        wanted = outcome or ("failed" if method.code else "succeeded")
        if wanted == "succeeded":
            _succeed(store, None, intent, charge)
        elif wanted == "failed":
            failing = method if method.code else TEST_METHODS["pm_usBankAccount_insufficientFunds"]
            _fail(store, None, intent, charge, failing)
        else:
            raise invalid_request("outcome must be succeeded or failed", param="outcome")
        store.save()
        return store.render(intent)


def get_intent(store: Store, ctx: RequestContext, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
    p.reject_unknown(params, ("client_secret",))
    return _intent(store, intent_id)


def cancel_intent(
    store: Store, ctx: RequestContext, params: dict[str, Any], intent_id: str
) -> dict[str, Any]:
    p.reject_unknown(params, ("cancellation_reason",))
    intent = _intent(store, intent_id)
    reason = p.choice(
        params, "cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    )
    if intent["status"] not in CANCELABLE:
        raise refused(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
            f"PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELABLE)}.",
            code="payment_intent_unexpected_state",
        )
    intent.update(status="canceled", canceled_at=store.now(), cancellation_reason=reason)
    store.emit("payment_intent.canceled", intent, ctx)
    return intent


def get_charge(store: Store, ctx: RequestContext, params: dict[str, Any], charge_id: str) -> dict[str, Any]:
    charge = store.get(charge_id, "charge")
    if charge is None:
        raise no_such("charge", charge_id)
    return charge
