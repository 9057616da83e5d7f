"""Who may use a consumer route: kept apart from the service so a handler checks the caller without
importing the consumer service, its stores and the ledger at init (cold start)."""

from __future__ import annotations

from shared.auth import CONSUMER, Principal, require_role


def require_consumer(principal: Principal) -> Principal:
    """The caller, if a consumer: every consumer route is theirs alone (403 for other roles)."""
    require_role(principal, CONSUMER)
    return principal
