"""The ledger's hottest item: what share of postings write it, against 1/N with N running-totals shards.

One DynamoDB item takes about 1,000 writes a second, so the share of all postings that write the busiest
item caps the platform's postings at 1,000 / share a second. 2,000 mixed postings (fundings, payments to
many merchants, refunds) go through the real ledger on moto (with the local runtime's TransactWriteItems,
which costs what it touches), and every item each transaction writes is counted. The same postings'
operations are counted again with one shard, which is where the running totals sat before sharding.
Then reconcile (through its handler) is counted at two wallet counts. Prints numbers; never asserts.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from bench.money import TABLE, bench_environment
from bench.support import installed, load_handler
from local.runtime import moto_transactions
from local.runtime.cfn_dynamodb import create_table_from_definition
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings, get_settings
from shared.ledger.journal import Journal, JournalKind, journal_id_for
from shared.ledger.movements import funding, payment, refund
from shared.ledger.shards import shard_of
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties

OPERATOR = {"sub": "usr_bench_operator", "tenant_id": "ten_platform", "roles": "operator"}
CREATED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
POSTINGS = 2_000
WALLETS, TENANTS = 200, 40
MORE_WALLETS = 400  # funded before reconcile is counted again
TOKEN_PER_CENT = 10_000
LONG_RUN = 100_000


def _mixed_postings(rng: random.Random) -> list[Journal]:
    """About half fundings, a third payments, the rest refunds, over WALLETS wallets and TENANTS merchants;
    a wallet pays or refunds only what it holds, so none is refused."""
    journals: list[Journal] = []
    held = dict.fromkeys(range(WALLETS), 0)  # cents each wallet holds
    for n in range(POSTINGS):
        wallet, roll = rng.randrange(WALLETS), rng.random()
        operation, wallet_id, tenant = (
            f"op_{n:05d}",
            f"wal_hot{wallet:04d}",
            f"ten_{rng.randrange(TENANTS):03d}",
        )
        if roll < 0.5 or held[wallet] < 200:
            cents = rng.randint(100, 5_000)
            held[wallet] += cents
            journals.append(
                funding(
                    operation_id=operation,
                    wallet_id=wallet_id,
                    tenant_id=tenant,
                    currency="USD",
                    token="USDC",
                    fiat_amount=cents,
                    fee=30,
                    created_at=CREATED,
                )
            )
        elif roll < 0.85:
            cents = rng.randint(100, held[wallet])
            held[wallet] -= cents
            amount = cents * TOKEN_PER_CENT
            journals.append(
                payment(
                    operation_id=operation,
                    wallet_id=wallet_id,
                    tenant_id=tenant,
                    token="USDC",
                    amount=amount,
                    fee=amount // 100,
                    created_at=CREATED,
                )
            )
        else:
            cents = rng.randint(1, held[wallet])
            held[wallet] -= cents
            journals.append(
                refund(
                    operation_id=operation,
                    wallet_id=wallet_id,
                    token="USDC",
                    currency="USD",
                    token_amount=cents * TOKEN_PER_CENT,
                    created_at=CREATED,
                )
            )
    return journals


def _written_items(operations: list[dict[str, Any]]) -> set[tuple[str, str]]:
    items = set()
    for operation in operations:
        body = next(iter(operation.values()))
        key = body.get("Key") or body.get("Item")
        items.add((key["pk"]["S"], key["sk"]["S"]))
    return items


def _hottest(writes: Counter[tuple[str, str]], postings: int) -> str:
    return ", ".join(f"{pk} {writes[(pk, sk)] / postings:.3f}" for (pk, sk), _ in writes.most_common(3))


def run() -> dict[str, float]:
    bench_environment()
    moto_transactions.install()
    shards = get_settings().ledger_shards
    journals = _mixed_postings(random.Random(20300101))  # seeded: the same workload every run
    properties = table_properties(local_template())
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(client, properties, TABLE)
        ledger = DynamoDBLedger(client, TABLE, shards=shards)
        writes = _post_counting_writes(client, ledger, journals)
        share = writes.most_common(1)[0][1] / len(journals)
        print(
            f"  {len(journals)} postings {dict(Counter(j.kind.value for j in journals))} over {WALLETS} "
            f"wallets and {TENANTS} merchants, {shards} shards: hottest item written by {share:.3f} of "
            f"postings vs 1/N = {1 / shards:.3f} (hashing's noise at this count: sd "
            f"{_binomial_sd(len(journals), shards):.3f})"
        )
        print(f"    hottest items: {_hottest(writes, len(journals))}")
        one_shard = DynamoDBLedger(client, TABLE, shards=1)
        before: Counter[tuple[str, str]] = Counter()
        for journal in journals:
            before.update(_written_items(one_shard.journal_operations(journal)))
        print(f"    the same postings in 1 shard (as before sharding): {_hottest(before, len(journals))}")
        many = Counter(shard_of(journal_id_for(JournalKind.PAY, f"op_{n}"), shards) for n in range(LONG_RUN))
        print(
            f"    over {LONG_RUN} journal ids the busiest shard takes {max(many.values()) / LONG_RUN:.4f} "
            f"(1/N = {1 / shards:.4f}): the excess is noise, shrinking as postings accumulate"
        )
        calls = _reconcile_calls(client, ledger)
        small, large = list(calls)
        print(
            f"  reconcile DynamoDB calls: {small} wallets {dict(calls[small])}; {large} wallets "
            f"{dict(calls[large])} (same: {calls[small] == calls[large]})"
        )
        return {"hottest_share": share, "one_over_n": 1 / shards, "reconcile_calls": calls[large].total()}


def _post_counting_writes(
    client: Any, ledger: DynamoDBLedger, journals: list[Journal]
) -> Counter[tuple[str, str]]:
    """Post every journal; how many of the TransactWriteItems sent write each item."""
    writes: Counter[tuple[str, str]] = Counter()

    def count_writes(params: dict[str, Any], **_: Any) -> None:
        writes.update(_written_items(params["TransactItems"]))

    event = "provide-client-params.dynamodb.TransactWriteItems"
    client.meta.events.register(event, count_writes)
    try:
        for journal in journals:
            ledger.post(journal)  # every draw is covered by construction: none is refused
    finally:
        client.meta.events.unregister(event, count_writes)
    return writes


def _binomial_sd(postings: int, shards: int) -> float:
    return math.sqrt(postings * (1 / shards) * (1 - 1 / shards)) / postings


def _reconcile_calls(client: Any, ledger: DynamoDBLedger) -> dict[int, Counter[str]]:
    settings = Settings.model_validate({"TABLE_NAME": TABLE, "POWERTOOLS_SERVICE_NAME": "reconcile"})
    handler = load_handler("reconcile")
    with installed(Adapters(settings, dynamodb=client, clock=FixedClock(CREATED))):
        calls: Counter[str] = Counter()

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.rsplit(".", 1)[-1]] += 1

        def reconcile() -> Counter[str]:
            calls.clear()
            client.meta.events.register("before-call.dynamodb", count)
            event = api_event("POST", "/api/v2/reserve/reconcile", principal=OPERATOR)
            answer = handler.lambda_handler(event, FakeLambdaContext(function_name="reconcile"))
            client.meta.events.unregister("before-call.dynamodb", count)
            assert answer["statusCode"] == 200, answer
            assert json.loads(answer["body"])["data"]["status"] == "balanced", answer["body"]
            return Counter(calls)

        # One call first: it reads the operator tenant's rate limits, which a warm function then holds for
        # a minute; the counted calls below are then the reconciliation's own, at each wallet count.
        reconcile()
        measured = {WALLETS: reconcile()}
        for n in range(MORE_WALLETS):
            ledger.post(
                funding(
                    operation_id=f"pi_more_{n:05d}",
                    wallet_id=f"wal_more{n:05d}",
                    tenant_id="ten_000",
                    currency="USD",
                    token="USDC",
                    fiat_amount=1_000,
                    created_at=CREATED,
                )
            )
        measured[WALLETS + MORE_WALLETS] = reconcile()
        return measured


if __name__ == "__main__":
    run()
