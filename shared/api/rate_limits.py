"""Exact per-caller rate limits (API.md "Rate limits"): which windows a REST request counts against, and
the limiter that takes one from each in the table before the route runs.

Windows are fixed windows of real (wall-clock) time, one second or one minute: the local runtime's
WALLETS_SPEED scales the domain clock for TTLs and schedules, never the limits. Each window is one item
taken with a conditional `ADD count :one` (`count < limit`), so concurrent requests can never pass a limit
together. A request counting against several windows takes the most specific first (a money route's before
the caller's overall one); if a later window refuses it, what the earlier ones took is given back, so a
refused request only ever makes the others stricter for an instant, never looser.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from shared.errors import RateLimited, WalletsError

SECOND, MINUTE = 1, 60
# Seconds a window's item outlives its window before the table's TTL may delete it (only a backstop).
RETENTION_SECONDS = 60
MONEY, CREATION, PUBLIC, EXEMPT, ORDINARY = "money", "creation", "public", "exempt", "ordinary"
_TENANT_ROLES = frozenset({"merchant", "admin", "operator"})

logger = Logger()


@dataclass(frozen=True)
class RateLimits:
    """One tenant's limits: the contract's defaults, each overridable by the tenant's settings item."""

    consumer_per_minute: int = 100
    consumer_money_per_minute: int = 10
    link_per_minute: int = 10
    tenant_per_second: int = 100
    tenant_money_per_second: int = 25
    creation_per_second: int = 10
    live_ephemeral_wallets: int = 10_000

    @classmethod
    def with_overrides(cls, values: Mapping[str, Any]) -> RateLimits:
        """The defaults with each known, non-negative integer of `values` in place (0 refuses everything:
        a suspended tenant); anything else in the item is ignored rather than trusted."""
        known = {field.name for field in fields(cls)}
        chosen: dict[str, int] = {}
        for name, raw in values.items():
            if name not in known or isinstance(raw, bool):
                continue
            try:
                number = int(raw)
            except (TypeError, ValueError):
                continue
            if number >= 0 and number == raw:
                chosen[name] = number
        return cls(**chosen)


class TenantLimits(Protocol):
    def limits(self, tenant_id: str) -> RateLimits:
        """The tenant's limits; may be cached for a short while."""
        ...


class RateCounter(Protocol):
    def take(self, key: str, window_start: int, limit: int, expires_in: float) -> int | None:
        """Add one to the window's count if it is below `limit`: the new count, or None when full."""
        ...

    def give_back(self, key: str, window_start: int) -> None:
        """Take one off a window's count (a request another window refused)."""
        ...


@dataclass(frozen=True)
class Window:
    key: str
    seconds: int
    limit: int


@dataclass(frozen=True)
class Admission:
    """The tightest window a request was admitted through: reported as RateLimit-* headers."""

    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


# (method, path, kind, route): the first match classifies a request; no match is ORDINARY. The money and
# creation routes are the contract's; a route not built yet is classified already so it is limited the day
# it lands. Stripe's webhooks and the health probe are never limited (scheduled triggers never reach here).
_ID = r"[^/]+"
ROUTE_CLASSES: tuple[tuple[str, re.Pattern[str], str, str], ...] = tuple(
    (method, re.compile(pattern), kind, route)
    for method, pattern, kind, route in (
        ("POST", r"/webhooks/stripe", EXEMPT, ""),
        ("GET", r"/health", EXEMPT, ""),
        ("GET", rf"/public/pay/{_ID}", PUBLIC, ""),
        ("GET", rf"/public/claim/{_ID}", PUBLIC, ""),
        ("GET", rf"/api/v2/invoice-wallets/{_ID}/countdown", PUBLIC, ""),
        ("POST", r"/api/v2/invoice-wallets/create-from-invoice", CREATION, "create-wallet"),
        ("POST", r"/api/v1/invoices/create-wallet", CREATION, "create-wallet"),
        ("POST", r"/api/v1/wallets/ephemeral/create", CREATION, "create-wallet"),
        ("POST", rf"/api/v2/invoice-wallets/{_ID}/fund", MONEY, "fund"),
        ("POST", rf"/api/v2/invoice-wallets/{_ID}/pay-invoice", MONEY, "pay"),
        ("POST", rf"/api/v2/invoice-wallets/{_ID}/refund", MONEY, "refund"),
        ("POST", rf"/api/v1/payouts(/{_ID}/(approve|retry-failed))?", MONEY, "payouts"),
        ("POST", r"/api/v1/treasury/deposit", MONEY, "deposit"),
        ("POST", r"/api/consumer/deposit", MONEY, "deposit"),
        ("POST", r"/api/consumer/withdraw", MONEY, "withdraw"),
        ("POST", r"/api/consumer/transfer", MONEY, "transfer"),
        ("POST", rf"/api/consumer/batch-transfer(/{_ID}/retry-failed)?", MONEY, "batch-transfer"),
        ("POST", r"/api/consumer/swap", MONEY, "swap"),
        ("POST", rf"/api/consumer/requests(/{_ID}/(accept|decline))?", MONEY, "requests"),
    )
)


def classify(method: str, path: str) -> tuple[str, str]:
    """(kind, route) of a request: money and creation routes carry the name their windows are kept by."""
    path = path.rstrip("/") or "/"
    for wanted, pattern, kind, route in ROUTE_CLASSES:
        if method == wanted and pattern.fullmatch(path):
            return kind, route
    return ORDINARY, ""


@dataclass(frozen=True)
class _Caller:
    sub: str
    tenant_id: str
    roles: frozenset[str]
    is_link: bool


def _caller(event: Mapping[str, Any]) -> _Caller | None:
    """Who the authorizer says is calling; None when it says nothing usable (the route refuses that)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    sub, tenant, roles = context.get("sub"), context.get("tenant_id"), context.get("roles")
    if not (isinstance(sub, str) and sub and isinstance(tenant, str) and tenant and isinstance(roles, str)):
        return None
    return _Caller(
        sub, tenant, frozenset(r.strip() for r in roles.split(",")), bool(context.get("link_wallet_id"))
    )


def _source_ip(event: Mapping[str, Any]) -> str:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    ip = identity.get("sourceIp")
    return ip if isinstance(ip, str) and ip else "unknown"


class RateLimiter:
    """Counts each REST request against its caller's windows; refuses with 429 when one is full."""

    def __init__(
        self, counter: RateCounter, tenants: TenantLimits, now: Callable[[], float] = time.time
    ) -> None:
        self._counter = counter
        self._tenants = tenants
        self._now = now

    def windows(self, event: Mapping[str, Any]) -> list[Window]:
        """The windows this request counts against, the most specific first (empty: not limited)."""
        method = str(event.get("httpMethod") or "")
        if method == "OPTIONS":
            return []
        kind, route = classify(method, str(event.get("path") or ""))
        if kind == EXEMPT:
            return []
        caller = _caller(event)
        if kind == PUBLIC or (caller is not None and caller.is_link):
            # A payment-link holder is known by source IP alone; the link's tenant (when the authorizer
            # verified one) sets the limit, an unauthenticated public route gets the default.
            limits = self._tenants.limits(caller.tenant_id) if caller else RateLimits()
            return [Window(f"ip#{_source_ip(event)}", MINUTE, limits.link_per_minute)]
        if caller is None:
            return []
        limits = self._tenants.limits(caller.tenant_id)
        tenant = f"tenant#{caller.tenant_id}"
        windows: list[Window] = []
        if kind == CREATION:
            windows.append(Window(f"{tenant}#create", SECOND, limits.creation_per_second))
        if caller.roles.isdisjoint(_TENANT_ROLES):
            person = f"consumer#{caller.tenant_id}#{caller.sub}"
            if kind == MONEY:
                windows.append(Window(f"{person}#{route}", MINUTE, limits.consumer_money_per_minute))
            windows.append(Window(f"{person}#all", MINUTE, limits.consumer_per_minute))
        else:
            if kind == MONEY:
                windows.append(Window(f"{tenant}#money", SECOND, limits.tenant_money_per_second))
            windows.append(Window(f"{tenant}#all", SECOND, limits.tenant_per_second))
        return windows

    def admit(self, event: Mapping[str, Any]) -> Admission | None:
        """Take one from each of the request's windows, or raise RateLimited having kept none of them."""
        windows = self.windows(event)
        if not windows:
            return None
        now = self._now()
        taken: list[tuple[Window, int]] = []
        tightest: Admission | None = None
        try:
            for window in windows:
                start = int(now // window.seconds) * window.seconds
                left = start + window.seconds - now
                reset = max(1, math.ceil(left))
                count = self._counter.take(window.key, start, window.limit, left + RETENTION_SECONDS)
                if count is None:
                    self._give_back(taken)
                    raise RateLimited(
                        f"rate limit of {window.limit} requests per {_per(window.seconds)} reached; "
                        f"retry in {reset} s",
                        window.limit,
                        reset,
                    )
                taken.append((window, start))
                admission = Admission(window.limit, max(0, window.limit - count), reset)
                if tightest is None or (admission.remaining, admission.reset) < (
                    tightest.remaining,
                    tightest.reset,
                ):
                    tightest = admission
        except RateLimited:
            raise
        except WalletsError:
            self._give_back(taken)
            raise
        return tightest

    def _give_back(self, taken: list[tuple[Window, int]]) -> None:
        for window, start in taken:
            try:
                self._counter.give_back(window.key, start)
            except WalletsError:
                # Kept counted: the window is stricter by one until it ends, never looser.
                logger.warning("could not give a rate-limit slot back", extra={"window": window.key})


def _per(seconds: int) -> str:
    return "second" if seconds == SECOND else "minute"
