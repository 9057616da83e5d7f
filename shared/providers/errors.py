"""Provider errors: a refusal (4xx, the request is wrong) is not an outage and never trips a breaker."""

from __future__ import annotations

from shared.errors import ProviderUnavailable, WalletsError

INSUFFICIENT_FUNDS = "insufficient_funds"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
INVALID_REQUEST = "invalid_request"


class ProviderRejected(WalletsError):
    """The provider refused the request (4xx). `reason` is one of the constants above; a retry cannot help."""

    status = 400

    def __init__(self, provider: str, reason: str, message: str, http_status: int) -> None:
        super().__init__(f"{provider} refused the request: {message}")
        self.provider = provider
        self.reason = reason
        self.http_status = http_status
        # The contract's codes: a short balance is the caller's; anything else is a state we cannot act on.
        self.code = "insufficient_balance" if reason == INSUFFICIENT_FUNDS else "invalid_state"


class ProviderCallFailed(ProviderUnavailable):
    """A provider timed out, kept answering 5xx/429, refused our credentials, or was unreachable."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider} is unavailable: {message}")
        self.provider = provider
