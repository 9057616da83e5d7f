"""The rate limiter over an in-memory counter: which windows a request counts against, exact counting,
giving back on refusal, real-time windows and the tenant overrides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.api.rate_limits import RateLimiter, RateLimits, Window, classify
from shared.errors import DependencyUnavailable, RateLimited
from shared.models.wallet import WalletMode, WalletStatus
from shared.wallets.stats import LIVE_EPHEMERAL, creation_deltas, destroyed_deltas, transform_deltas

CONSUMER = {"sub": "cus_alice", "tenant_id": "ten_a", "roles": "consumer"}
MERCHANT = {"sub": "usr_m", "tenant_id": "ten_a", "roles": "merchant"}
LINK = {"sub": "link-payer", "tenant_id": "ten_a", "roles": "consumer", "link_wallet_id": "wal_x"}


class Counter:
    def __init__(self, fail_on: str | None = None) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.fail_on = fail_on

    def take(self, key: str, window_start: int, limit: int, expires_in: float) -> int | None:
        if key == self.fail_on:
            raise DependencyUnavailable("the table is busy; retry")
        count = self.counts.get((key, window_start), 0)
        if count >= limit:
            return None
        self.counts[(key, window_start)] = count + 1
        return count + 1

    def give_back(self, key: str, window_start: int) -> None:
        self.counts[(key, window_start)] -= 1


class Tenants:
    def __init__(self, **overrides: int) -> None:
        self.overrides = overrides

    def limits(self, tenant_id: str) -> RateLimits:
        return RateLimits.with_overrides(self.overrides)


def event(
    method: str, path: str, principal: dict[str, str] | None, ip: str = "203.0.113.9"
) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": path,
        "requestContext": {"authorizer": principal, "identity": {"sourceIp": ip}},
    }


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/v2/invoice-wallets/wal_1/fund", ("money", "fund")),
        ("POST", "/api/v2/invoice-wallets/wal_1/pay-invoice", ("money", "pay")),
        ("POST", "/api/v2/invoice-wallets/wal_1/refund", ("money", "refund")),
        ("POST", "/api/v1/payouts/po_1/approve", ("money", "payouts")),
        ("POST", "/api/consumer/batch-transfer/bt_1/retry-failed", ("money", "batch-transfer")),
        ("POST", "/api/consumer/requests/rq_1/accept", ("money", "requests")),
        ("POST", "/api/consumer/swap", ("money", "swap")),
        ("POST", "/api/consumer/swap/quote", ("ordinary", "")),
        ("POST", "/api/v1/wallets/ephemeral/create", ("creation", "create-wallet")),
        ("POST", "/api/v2/invoice-wallets/create-from-invoice", ("creation", "create-wallet")),
        ("GET", "/public/pay/tok", ("public", "")),
        ("GET", "/public/claim/tok.sig", ("public", "")),
        ("GET", "/api/v2/invoice-wallets/wal_1/countdown", ("public", "")),
        ("POST", "/webhooks/stripe", ("exempt", "")),
        ("GET", "/health", ("exempt", "")),
        ("GET", "/api/v1/invoices", ("ordinary", "")),
    ],
)
def test_classify(method: str, path: str, expected: tuple[str, str]) -> None:
    assert classify(method, path) == expected


def test_windows_per_caller() -> None:
    limiter = RateLimiter(Counter(), Tenants())
    fund = "/api/v2/invoice-wallets/wal_1/fund"
    assert limiter.windows(event("POST", fund, CONSUMER)) == [
        Window("consumer#ten_a#cus_alice#fund", 60, 10),
        Window("consumer#ten_a#cus_alice#all", 60, 100),
    ]
    assert limiter.windows(event("POST", fund, MERCHANT)) == [
        Window("tenant#ten_a#money", 1, 25),
        Window("tenant#ten_a#all", 1, 100),
    ]
    assert limiter.windows(event("POST", fund, LINK)) == [Window("ip#203.0.113.9", 60, 10)]
    assert limiter.windows(event("GET", "/public/pay/t", None)) == [Window("ip#203.0.113.9", 60, 10)]
    assert limiter.windows(event("POST", "/api/v1/wallets/ephemeral/create", CONSUMER)) == [
        Window("tenant#ten_a#create", 1, 10),
        Window("consumer#ten_a#cus_alice#all", 60, 100),
    ]
    assert limiter.windows(event("POST", "/webhooks/stripe", None)) == []
    assert limiter.windows(event("OPTIONS", fund, None)) == []
    # No authorizer context on an authenticated route: the route answers 401 itself.
    assert limiter.windows(event("GET", "/api/v1/invoices", None)) == []


def test_exact_count_then_429_with_headers_and_a_new_window_in_real_time() -> None:
    clock = Clock(1_900_000_000.25)
    limiter = RateLimiter(Counter(), Tenants(), now=clock)
    fund = event("POST", "/api/v2/invoice-wallets/wal_1/fund", MERCHANT)
    admitted = [limiter.admit(fund) for _ in range(25)]
    assert [a.remaining for a in admitted if a] == list(range(24, -1, -1))
    with pytest.raises(RateLimited) as refused:
        limiter.admit(fund)
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.headers == {
        "Retry-After": "1",
        "RateLimit-Limit": "25",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
    }
    clock.at += 1
    assert limiter.admit(fund) is not None


def test_a_refusal_by_a_later_window_gives_back_the_earlier_ones() -> None:
    counter = Counter()
    limiter = RateLimiter(counter, Tenants(consumer_per_minute=2), now=Clock(1_900_000_000.0))
    fund = event("POST", "/api/v2/invoice-wallets/wal_1/fund", CONSUMER)
    limiter.admit(fund)
    limiter.admit(fund)
    with pytest.raises(RateLimited) as refused:
        limiter.admit(fund)
    assert refused.value.headers["Retry-After"] == "20"  # the minute began 40 s ago
    assert counter.counts == {
        ("consumer#ten_a#cus_alice#fund", 1_899_999_960): 2,
        ("consumer#ten_a#cus_alice#all", 1_899_999_960): 2,
    }


def test_a_table_failure_gives_back_and_propagates() -> None:
    counter = Counter(fail_on="tenant#ten_a#all")
    limiter = RateLimiter(counter, Tenants(), now=Clock(1_900_000_000.0))
    with pytest.raises(DependencyUnavailable):
        limiter.admit(event("POST", "/api/v2/invoice-wallets/wal_1/fund", MERCHANT))
    assert counter.counts == {("tenant#ten_a#money", 1_900_000_000): 0}


def test_overrides_take_only_non_negative_integers() -> None:
    limits = RateLimits.with_overrides(
        {
            "tenant_per_second": Decimal(500),
            "creation_per_second": Decimal("2.5"),
            "consumer_per_minute": "1000",
            "link_per_minute": -1,
            "live_ephemeral_wallets": 0,
            "pk": "TENANT#ten_a",
        }
    )
    assert limits == RateLimits(tenant_per_second=500, live_ephemeral_wallets=0)


def test_live_ephemeral_counter_follows_creation_transform_and_destruction() -> None:
    from datetime import UTC, datetime

    from shared.models.wallet import Wallet

    now = datetime(2030, 1, 1, tzinfo=UTC)
    wallet = Wallet(
        wallet_id="wal_" + "a" * 24,
        tenant_id="ten_a",
        wallet_type=WalletMode.EPHEMERAL,
        status=WalletStatus.ACTIVE,
        evm_address="0x" + "0" * 40,
        solana_address="1" * 32,
        spending_limit=Decimal(0),
        currency="USD",
        created_by="usr_m",
        created_at=now,
        updated_at=now,
    )
    assert creation_deltas(wallet)[LIVE_EPHEMERAL] == 1
    assert transform_deltas(WalletMode.EPHEMERAL)[LIVE_EPHEMERAL] == -1
    assert LIVE_EPHEMERAL not in transform_deltas(WalletMode.ADAPTIVE)
    destroying = wallet.model_copy(update={"status": WalletStatus.DESTROYING})
    assert destroyed_deltas(destroying)[LIVE_EPHEMERAL] == -1
    adaptive = destroying.model_copy(update={"wallet_type": WalletMode.ADAPTIVE})
    assert LIVE_EPHEMERAL not in destroyed_deltas(adaptive)
    assert LIVE_EPHEMERAL not in creation_deltas(adaptive)


def test_openapi_documents_429_where_the_limiter_counts() -> None:
    import json

    from shared.openapi import openapi_document

    paths = json.loads(openapi_document())["paths"]
    fund = paths["/api/v2/invoice-wallets/{wallet_id}/fund"]["post"]["responses"]["429"]
    assert set(fund["headers"]) == {
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    }
    assert "429" in paths["/api/v1/invoices"]["get"]["responses"]
    assert "429" not in paths["/webhooks/stripe"]["post"]["responses"]
    assert "429" not in paths["/health"]["get"]["responses"]
