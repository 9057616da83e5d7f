"""Twenty concurrent debits of one wallet with real threads: the balance guard holds, nothing overdraws."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.errors import InsufficientBalance
from shared.ledger.accounts import Account
from shared.ledger.movements import funding, payment
from shared.ledger.ports import PostOutcome
from tests.integration.conftest import TABLE

NOW = datetime(2030, 1, 1, tzinfo=UTC)
WALLET = Account.wallet("wal_a", "USDC")
TEN_USDC = 10_000_000


class AtomicCallsClient:
    """Each DynamoDB call atomic, as the real service is (moto's in-process backend is not thread-safe);
    threads still interleave freely between calls: read a balance, decide, post."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


def test_twenty_concurrent_debits_never_overdraw(dynamodb: Any) -> None:
    ledger = DynamoDBLedger(AtomicCallsClient(dynamodb), TABLE)
    ledger.post(
        funding(
            operation_id="pi_1",
            wallet_id="wal_a",
            tenant_id="tenant-a",
            currency="USD",
            token="USDC",
            fiat_amount=10_000,  # 100 USD -> 100 USDC: room for exactly ten of the twenty debits
            created_at=NOW,
        )
    )
    start = threading.Barrier(20)
    seen_room: list[bool] = []

    def debit(n: int) -> str:
        start.wait()
        # The naive caller checks first; only the table's condition makes the answer true at commit time.
        seen_room.append(ledger.balance(WALLET) >= TEN_USDC)
        journal = payment(
            operation_id=f"inv_{n}",
            wallet_id="wal_a",
            tenant_id="tenant-a",
            token="USDC",
            amount=TEN_USDC,
            created_at=NOW,
        )
        try:
            return ledger.post(journal).value
        except InsufficientBalance:
            return "refused"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(debit, range(20)))

    assert outcomes.count(PostOutcome.POSTED.value) == 10
    assert outcomes.count("refused") == 10
    assert ledger.balance(WALLET) == 0
    assert ledger.balance(Account.settlement("tenant-a", "USDC")) == 10 * TEN_USDC
    totals = ledger.totals()["USDC"]
    assert totals.journals == 11 and totals.debits == totals.credits
    assert sum(seen_room) > 10, "no thread saw room it then lost; the threads never raced"
