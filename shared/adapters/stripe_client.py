"""One `stripe.StripeClient` per process, with timeouts and retries, and Stripe errors as domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe

from shared.cards.ports import PaymentDeclined, ProcessorRejected
from shared.errors import (
    DependencyUnavailable,
    IdempotencyInProgress,
    IdempotencyKeyReuse,
    NotFound,
    ValidationFailed,
    WalletsError,
)

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 15.0
MAX_NETWORK_RETRIES = 2


def build_stripe_client(
    secret_key: str,
    api_base: str = "",
    *,
    max_network_retries: int = MAX_NETWORK_RETRIES,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> stripe.StripeClient:
    """A client instance (no module globals), so threads and tests can each hold their own.

    `api_base` is Settings.stripe_api_base: empty means api.stripe.com, the local runtime points it at the
    stand-in. The SDK retries connection errors, 409s and 5xx with the same Idempotency-Key, so a retried
    POST is never executed twice.
    """
    if not secret_key:
        raise ValueError("a Stripe secret key is required")
    http_client = stripe.RequestsClient(timeout=(connect_timeout, read_timeout))
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=http_client,
    )


def translate(error: stripe.StripeError, action: str) -> WalletsError:
    """The domain error for a Stripe failure while doing `action`."""
    status = error.http_status or 0
    code = error.code
    if isinstance(error, stripe.CardError):
        body = error.json_body or {}
        detail = body.get("error", {}) if isinstance(body, dict) else {}
        intent = detail.get("payment_intent") or {}
        return PaymentDeclined(
            error.user_message or "The payment was declined.",
            decline_code=detail.get("decline_code") or code,
            payment_intent_id=intent.get("id") if isinstance(intent, dict) else None,
        )
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or status >= 500:
        return DependencyUnavailable(f"Stripe is unavailable ({action}); safe to retry")
    if isinstance(error, stripe.IdempotencyError):
        return IdempotencyKeyReuse(
            f"Stripe refused a reused idempotency key with other parameters ({action})"
        )
    if status == 409:
        if code == "idempotency_key_in_use":
            return IdempotencyInProgress(f"the same Stripe request is still running ({action})")
        return DependencyUnavailable(f"Stripe object busy ({action}); safe to retry")
    if status == 404:
        return NotFound(f"Stripe has no such object ({action})")
    if getattr(error, "param", None) == "payment_method":
        # The payment method id is the payer's input, so an unknown or unusable one is theirs to fix.
        return ValidationFailed(
            "unknown or unusable payment method",
            details=[{"field": "payment_method", "message": error.user_message, "code": code}],
        )
    if code == "amount_too_small":
        # An invoice or deposit under the processor's minimum charge (USD 0.50) is the caller's to change,
        # not a gateway failure: a 400, with nothing charged.
        return ValidationFailed(
            "the amount is below the card processor's minimum charge",
            details=[{"field": "amount", "message": error.user_message, "code": code}],
        )
    return ProcessorRejected(f"Stripe rejected the request ({action}): {error.user_message}", code)


@contextmanager
def stripe_errors(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise translate(error, action) from error


def metadata_of(value: Any) -> dict[str, str]:
    """A Stripe metadata hash as a plain dict (the SDK hands back a StripeObject)."""
    if not value:
        return {}
    return {str(key): str(item) for key, item in value.to_dict().items()}
