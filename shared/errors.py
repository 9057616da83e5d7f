"""Domain and API errors, each with the contract's HTTP status and machine code."""

from __future__ import annotations

from typing import Any


class WalletsError(Exception):
    """Base of every error the API maps to the contract's envelope."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        # Response headers the error answers with (Retry-After and RateLimit-* of a 429).
        self.headers: dict[str, str] = {}


class ValidationFailed(WalletsError):
    status, code = 400, "validation_error"


class InvalidState(WalletsError):
    status, code = 400, "invalid_state"


class InsufficientBalance(WalletsError):
    status, code = 400, "insufficient_balance"


class LimitExceeded(WalletsError):
    status, code = 400, "limit_exceeded"


class InvalidLink(WalletsError):
    status, code = 400, "invalid_link"


class Unauthorized(WalletsError):
    status, code = 401, "unauthorized"


class PaymentFailed(WalletsError):
    status, code = 402, "payment_failed"


class Forbidden(WalletsError):
    status, code = 403, "forbidden"


class NotFound(WalletsError):
    status, code = 404, "not_found"


class Conflict(WalletsError):
    status, code = 409, "conflict"


class IdempotencyKeyReuse(WalletsError):
    status, code = 409, "idempotency_key_reuse"


class IdempotencyInProgress(WalletsError):
    status, code = 409, "idempotency_in_progress"


class RateLimited(WalletsError):
    """Over a rate limit or the live-wallet cap: nothing was done. Answers with Retry-After and the
    RateLimit-Limit / -Remaining / -Reset headers (seconds until the caller may try again)."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, limit: int, retry_after: int) -> None:
        super().__init__(message, [{"limit": limit, "retry_after": retry_after}])
        self.headers = {
            "Retry-After": str(retry_after),
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry_after),
        }


# What a caller at a live-wallet cap is told to wait: the cap frees as the tenant's wallets are destroyed.
CAP_RETRY_SECONDS = 60


def live_ephemeral_cap_reached(cap: int) -> RateLimited:
    return RateLimited(f"the tenant holds its limit of {cap} live ephemeral wallets", cap, CAP_RETRY_SECONDS)


class ProviderUnavailable(WalletsError):
    status, code = 503, "provider_unavailable"


class DependencyUnavailable(WalletsError):
    """An AWS or outside dependency (KMS, Stripe, DynamoDB) is unreachable; safe to retry."""

    status, code = 503, "service_unavailable"


class ConcurrentUpdate(Conflict):
    """A conditional write lost a race with another writer; the caller may read again and retry."""


class QuoteExpired(WalletsError):
    """A swap's quote ran out (or was used already): nothing was swapped; ask for a new quote."""

    status, code = 409, "quote_expired"


class SlippageExceeded(WalletsError):
    """The price moved past the caller's bound since the quote: nothing was swapped."""

    status, code = 409, "slippage_exceeded"
