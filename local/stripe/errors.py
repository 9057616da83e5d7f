"""Stripe-shaped API errors: `{"error": {"type", "code", "decline_code", "message", "param"}}`."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answered the way api.stripe.com answers it.

    `saved` says whether the idempotency layer keeps the response: Stripe saves a result only once the
    endpoint started executing, so parameter validation failures are not saved and may be retried.
    """

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        saved: bool = True,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.saved = saved
        self.should_retry = should_retry

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter problem found before the endpoint ran (never saved for idempotency)."""
    return StripeError(400, "invalid_request_error", message, param=param, code=code, saved=False)


def refused(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A request the endpoint ran and refused by a business rule (saved for idempotency)."""
    return StripeError(400, "invalid_request_error", message, param=param, code=code, saved=True)


def no_such(label: str, object_id: str, *, param: str | None = None, status: int = 404) -> StripeError:
    return StripeError(
        status,
        "invalid_request_error",
        f"No such {label}: '{object_id}'",
        code="resource_missing",
        param=param or "id",
        saved=False,
    )
