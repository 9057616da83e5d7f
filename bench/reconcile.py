"""Reconcile time with 1k vs 100k wallets' worth of journals, in-process on moto (target ratio <= 1.2).

The ledger keeps running totals and the reserve/supply balances beside the journals, in shards
(`LEDGER#TOTALS#{nn}`), so a reconciliation reads one BatchGetItem of the shards whatever the number of
wallets. To show it, the table must really hold the wallets' items:
- one wallet is funded through the real ledger (`DynamoDBLedger.post`); every other wallet's items are
  cloned from that posting (its journal, the wallet's balance and statement line, the tenant fees'
  statement line: 4 items per wallet, new ids) and batch-written into moto (BatchWriteItem, 25 a call),
  and the shared items (the running-totals shard the real posting moved, the tenant's fees balance) are
  moved by what those postings would have added, so the books still balance (all in that one shard: the
  reader sums every shard slot anyway). Posting each through the ledger is not
  possible at this size: moto deep-copies the whole table for every item of a TransactWriteItems, so
  its cost grows with the table (real DynamoDB's does not);
- reconcile is timed at 1k wallets, the table grown to 100k, and timed again; with moto's base-table Query
  scoped to the partition as DynamoDB's is (see `partition_scoped_queries`), and on moto as is.
Both runs go through the function's handler (POST /api/v2/reserve/reconcile, operator), without provider
reporters (no provider is configured here), and their DynamoDB calls are counted. Prints numbers; never
asserts. BENCH_RECONCILE_WALLETS changes the large size.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models.table import Table

from bench.money import TABLE, bench_environment
from bench.support import installed, load_handler, median_seconds
from local.runtime.cfn_dynamodb import create_table_from_definition
from shared.adapters.dynamodb_ledger import SHARD_PK_PREFIX, DynamoDBLedger
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings
from shared.ledger.movements import funding
from tests.integration.conftest import FakeLambdaContext, api_event
from tests.support.template import local_template, table_properties

OPERATOR = {"sub": "usr_bench_operator", "tenant_id": "ten_platform", "roles": "operator"}
CREATED = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SMALL = 1_000
LARGE = int(os.environ.get("BENCH_RECONCILE_WALLETS", "100000"))
FIAT, FEE = 10_000, 290  # $100.00 funded, $2.90 fee, per wallet
REPEAT = 15
SHARED_PREFIXES = (SHARD_PK_PREFIX,)
FEES_PK = "LEDGER#ACCOUNT#fees:ten_bench:USD"


def _post(ledger: DynamoDBLedger, n: int) -> None:
    ledger.post(
        funding(
            operation_id=f"pi_bench_{n:07d}",
            wallet_id=f"wal_bench{n:019d}",
            tenant_id="ten_bench",
            currency="USD",
            token="USDC",
            fiat_amount=FIAT,
            fee=FEE,
            created_at=CREATED,
        )
    )


def _per_wallet_items(client: Any, wallet_id: str) -> list[dict[str, Any]]:
    """The items one funding adds that no other funding touches: its journal, the wallet's balance and
    statement line, and the fees account's statement line for it."""
    items = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        items.extend(page["Items"])
    journal_id = next(
        i["last_journal_id"]["S"] for i in items if i["pk"]["S"] == f"LEDGER#ACCOUNT#wallet:{wallet_id}:USDC"
    )
    mine = [i for i in items if journal_id in json.dumps(i) and not i["pk"]["S"].startswith(SHARED_PREFIXES)]
    return [i for i in mine if i["sk"]["S"] != "BALANCE" or wallet_id in i["pk"]["S"]]


def _clone(templates: list[dict[str, Any]], wallet_id: str, journal_id: str, n: int) -> list[dict[str, Any]]:
    text = json.dumps(templates)
    return list(
        json.loads(text.replace(wallet_id, f"wal_bench{n:019d}").replace(journal_id, f"jrn_bench{n:017d}"))
    )


def _bulk_load(
    client: Any, templates: list[dict[str, Any]], wallet_id: str, journal_id: str, first: int, end: int
) -> int:
    batch: list[dict[str, Any]] = []
    calls = 0
    for n in range(first, end):
        batch.extend({"PutRequest": {"Item": item}} for item in _clone(templates, wallet_id, journal_id, n))
        while len(batch) >= 25:
            client.batch_write_item(RequestItems={TABLE: batch[:25]})
            batch, calls = batch[25:], calls + 1
    if batch:
        client.batch_write_item(RequestItems={TABLE: batch})
        calls += 1
    return calls


def _one_posting(client: Any) -> dict[str, Any]:
    """The running-totals shard item after exactly one real posting: what one funding adds to it."""
    items = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        items += [i for i in page["Items"] if i["pk"]["S"].startswith(SHARD_PK_PREFIX)]
    (shard,) = items
    return shard


def _scale_shared_items(client: Any, one_posting: dict[str, Any], added: int) -> None:
    """Move the shared items by `added` more fundings, as their postings would have: every number one
    posting put in its running-totals shard, and the fees account's balance and debits."""
    numbers = {name: int(attribute["N"]) for name, attribute in one_posting.items() if "N" in attribute}
    _add(client, one_posting["pk"]["S"], one_posting["sk"]["S"], numbers, added)
    _add(client, FEES_PK, "BALANCE", {"balance": FEE, "debits": FEE}, added)


def _add(client: Any, pk: str, sk: str, amounts: dict[str, int], times: int) -> None:
    names = {f"#n{n}": name for n, name in enumerate(amounts)}
    values = {f":n{n}": {"N": str(amount * times)} for n, amount in enumerate(amounts.values())}
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": pk}, "sk": {"S": sk}},
        UpdateExpression="ADD " + ", ".join(f"#n{n} :n{n}" for n in range(len(amounts))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def run() -> dict[str, float]:
    bench_environment()
    properties = table_properties(local_template())
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table_from_definition(client, properties, TABLE)
        settings = Settings.model_validate({"TABLE_NAME": TABLE, "POWERTOOLS_SERVICE_NAME": "reconcile"})
        handler = load_handler("reconcile")
        with installed(Adapters(settings, dynamodb=client, clock=FixedClock(CREATED))):
            calls: Counter[str] = Counter()

            def count(event_name: str, **_: Any) -> None:
                calls[event_name.rsplit(".", 1)[-1]] += 1

            def reconcile() -> dict[str, Any]:
                event = api_event("POST", "/api/v2/reserve/reconcile", principal=OPERATOR)
                answer = handler.lambda_handler(event, FakeLambdaContext(function_name="reconcile"))
                assert answer["statusCode"] == 200, answer
                return dict(json.loads(answer["body"])["data"])

            def measure(wallets: int) -> tuple[float, float]:
                reconcile()  # warm
                calls.clear()
                data = reconcile()
                per_run = dict(calls)
                as_is = median_seconds(reconcile, 3)
                with partition_scoped_queries():
                    scoped = median_seconds(reconcile, REPEAT)
                print(
                    f"  {wallets:>7} wallets: reconcile {scoped * 1000:6.1f} ms with partition-scoped Query "
                    f"(of {REPEAT}), {as_is * 1000:7.1f} ms on moto as is (of 3); DynamoDB calls {per_run}, "
                    f"status {data['status']}, minted {data['total_tokens_minted']}"
                )
                return scoped, as_is

            _post(DynamoDBLedger(client, TABLE), 0)
            wallet_id = f"wal_bench{0:019d}"
            templates = _per_wallet_items(client, wallet_id)
            one_posting = _one_posting(client)
            journal_id = next(i["journal_id"]["S"] for i in templates if "journal_id" in i)
            sizes: dict[int, tuple[float, float]] = {}
            loaded = 1
            for wallets in (SMALL, LARGE):
                started = time.perf_counter()
                _scale_shared_items(client, one_posting, wallets - loaded)
                batches = _bulk_load(client, copy.deepcopy(templates), wallet_id, journal_id, loaded, wallets)
                print(
                    f"  cloned {wallets - loaded} wallets ({len(templates)} items each) in {batches} "
                    f"BatchWriteItem calls, {time.perf_counter() - started:.1f} s"
                )
                loaded = wallets
                client.meta.events.register("before-call.dynamodb", count)
                sizes[wallets] = measure(wallets)
                client.meta.events.unregister("before-call.dynamodb", count)
        ratio = sizes[LARGE][0] / sizes[SMALL][0]
        as_is_ratio = sizes[LARGE][1] / sizes[SMALL][1]
        print(
            f"  ratio {LARGE} / {SMALL} wallets: {ratio:.2f}x with partition-scoped Query (target <= 1.2x); "
            f"{as_is_ratio:.2f}x on moto as is (where a Query walks the whole table; reconcile makes none)"
        )
        return {"small_ms": sizes[SMALL][0] * 1000, "large_ms": sizes[LARGE][0] * 1000, "ratio": ratio}


@contextmanager
def partition_scoped_queries() -> Iterator[None]:
    """moto's base-table Query walks (and sorts) every item of the table, then keeps the partition's:
    O(table), where DynamoDB reads only the partition. Within this block a base-table Query considers only
    its partition's items, which is DynamoDB's cost model; results are the same (moto filters by hash key
    anyway). GSI queries and everything else are left as they are."""
    original = Table.query
    signature = inspect.signature(original)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or not self.range_key_attr or hash_key is None:
            return original(self, *args, **kwargs)
        partition = list(self.items[hash_key].values()) if hash_key in self.items else []
        self.all_items = lambda: sorted(partition, key=lambda item: item.range_key)  # type: ignore[method-assign]
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]


if __name__ == "__main__":
    run()
