"""The reconcile function on moto: schedule and REST triggers, records per day, discrepancy alarm, cost."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dynamodb_ledger import DynamoDBLedger, shard_attribute, shard_key
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.ledger.accounts import Account
from shared.ledger.journal import Journal, JournalKind, credit, debit, journal_id_for
from shared.ledger.movements import funding, payment
from tests.integration.conftest import (
    ADMIN,
    CONSUMER,
    MERCHANT,
    OPERATOR,
    OTHER_ADMIN,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
)

NOW = datetime(2030, 3, 4, 2, 0, tzinfo=UTC)
SCHEDULED = {
    "version": "0",
    "id": "5f1c3a2e-0000-0000-0000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2030-03-04T02:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ReconcileDaily"],
    "detail": {},
}


class CountingClient:
    """Counts the DynamoDB calls made through it, by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return call


@pytest.fixture
def counting(dynamodb: Any) -> CountingClient:
    return CountingClient(dynamodb)


@pytest.fixture
def reconcile(counting: CountingClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    import functions.reconcile.handler as handler

    clock = FixedClock(NOW)
    bootstrap.use(Adapters(get_settings(), dynamodb=counting, clock=clock))
    yield handler


def clock_of(handler: ModuleType) -> FixedClock:
    clock = bootstrap.app().reconciliation._clock
    assert isinstance(clock, FixedClock)
    return clock


def call(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return dict(handler.lambda_handler(event, FakeLambdaContext(function_name="reconcile")))


def post_reconcile(
    handler: ModuleType, principal: dict[str, str] = OPERATOR, **headers: str
) -> dict[str, Any]:
    return call(handler, api_event("POST", "/api/v2/reserve/reconcile", principal=principal, headers=headers))


def fund_and_pay(dynamodb: Any) -> DynamoDBLedger:
    ledger = DynamoDBLedger(dynamodb, TABLE)
    for n in range(3):
        ledger.post(
            funding(
                operation_id=f"pi_{n}",
                wallet_id=f"wal_{n}",
                tenant_id="tenant-a",
                currency="USD",
                token="USDC",
                fiat_amount=10_000,
                fee=290,
                created_at=NOW,
            )
        )
    ledger.post(
        payment(
            operation_id="inv_1",
            wallet_id="wal_0",
            tenant_id="tenant-a",
            token="USDC",
            amount=40_000_000,
            created_at=NOW,
        )
    )
    return ledger


def records(dynamodb: Any) -> list[dict[str, Any]]:
    return [i for i in scan_all(dynamodb) if i["pk"]["S"] == "RECONCILIATIONS"]


def emitted_metrics(captured: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for line in captured.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MonayWallets"
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            emitted = blob[metric["Name"]]
            found.setdefault(metric["Name"], []).extend(emitted if isinstance(emitted, list) else [emitted])
    return found


def test_scheduled_event_records_a_balanced_day(
    reconcile: ModuleType, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fund_and_pay(dynamodb)
    assert call(reconcile, SCHEDULED) == {"date": "2030-03-04", "status": "balanced", "runs": 1}
    (record,) = records(dynamodb)
    assert record["sk"]["S"] == "DAY#2030-03-04" and record["trigger"]["S"] == "schedule"
    assert not [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert "ReserveDiscrepancy" not in metrics
    assert metrics["ReserveSupplyUnverified"] == [1]  # no provider reporter wired: USDC unverified


def test_post_reconcile_answers_the_contract(reconcile: ModuleType, dynamodb: Any) -> None:
    fund_and_pay(dynamodb)
    response = post_reconcile(reconcile)
    assert response["statusCode"] == 200
    data = body_of(response)["data"]
    assert {
        k: data[k] for k in ("date", "total_tokens_minted", "total_fiat_reserved", "discrepancy", "status")
    } == {
        "date": "2030-03-04",
        "total_tokens_minted": "300.000000",
        "total_fiat_reserved": "300.00",
        "discrepancy": "0.000000",
        "status": "balanced",
    }
    assert data["checks"] == {
        "reserve_backs_supply": "passed",
        "ledger_sums_to_zero": "passed",
        "accounts_match_totals": "passed",
        "provider_supply": "unavailable",
    }
    usdc = next(a for a in data["assets"] if a["asset"] == "USDC")
    assert (usdc["minted"], usdc["outstanding"], usdc["provider_check"]) == (
        "300.000000",
        "300.000000",
        "unavailable",
    )
    assert data["trigger"] == "api" and data["runs"] == 1


def test_a_tampered_total_is_a_discrepancy_with_event_and_metric(
    reconcile: ModuleType, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fund_and_pay(dynamodb)
    dynamodb.update_item(  # one shard's USD counter: the sum over shards must carry it
        TableName=TABLE,
        Key=shard_key(0),
        UpdateExpression="ADD #reserved :one",
        ExpressionAttributeNames={"#reserved": shard_attribute("USD", "reserved")},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    data = body_of(post_reconcile(reconcile))["data"]
    assert data["status"] == "discrepancy_detected"
    assert data["discrepancy"] == "-0.010000"  # the counters claim a cent more fiat than tokens
    assert data["checks"]["reserve_backs_supply"] == "failed"
    assert data["checks"]["accounts_match_totals"] == "failed"
    (event,) = [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert event["event_name"]["S"] == "reserve:discrepancy"
    # The totals span every tenant: the operators' platform channel only, never a tenant's admins.
    assert [c["S"] for c in event["channels"]["L"]] == ["platform"]
    assert "tenant_id" not in event["data"]["M"]
    assert event["data"]["M"]["discrepancy"]["S"] == "-0.010000"
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["ReserveDiscrepancy"] == [20_000]  # reserve gap + reserve account vs counters, 1e-6 USD


def test_reruns_update_the_day_and_the_history_pages_newest_first(
    reconcile: ModuleType, dynamodb: Any
) -> None:
    fund_and_pay(dynamodb)
    call(reconcile, SCHEDULED)
    clock_of(reconcile).advance(hours=5)
    assert body_of(post_reconcile(reconcile))["data"]["runs"] == 2
    assert len(records(dynamodb)) == 1
    clock_of(reconcile).advance(days=1)
    call(reconcile, SCHEDULED)
    assert len(records(dynamodb)) == 2

    first = call(
        reconcile,
        api_event("GET", "/api/v2/reserve/reconciliations", principal=OPERATOR, query={"limit": "1"}),
    )
    page = body_of(first)["data"]
    assert [r["date"] for r in page["reconciliations"]] == ["2030-03-05"] and page["has_more"]
    second = call(
        reconcile,
        api_event(
            "GET",
            "/api/v2/reserve/reconciliations",
            principal=OPERATOR,
            query={"limit": "1", "cursor": page["next_cursor"]},
        ),
    )
    older = body_of(second)["data"]
    assert [(r["date"], r["runs"]) for r in older["reconciliations"]] == [("2030-03-04", 2)]
    assert older["has_more"] is False and older["next_cursor"] is None
    bad = call(
        reconcile,
        api_event(
            "GET", "/api/v2/reserve/reconciliations", principal=OPERATOR, query={"cursor": "bm90LWEtZGF5"}
        ),
    )
    assert (bad["statusCode"], body_of(bad)["code"]) == (400, "validation_error")


@pytest.mark.parametrize("principal", [MERCHANT, CONSUMER, ADMIN, OTHER_ADMIN])
def test_only_operators_may_reconcile_or_read(
    reconcile: ModuleType, dynamodb: Any, principal: dict[str, str]
) -> None:
    refused = post_reconcile(reconcile, principal)
    assert (refused["statusCode"], body_of(refused)["code"]) == (403, "forbidden")
    listing = call(reconcile, api_event("GET", "/api/v2/reserve/reconciliations", principal=principal))
    assert (listing["statusCode"], body_of(listing)["code"]) == (403, "forbidden")
    assert records(dynamodb) == []


def test_an_idempotency_key_replays_the_first_run(reconcile: ModuleType, dynamodb: Any) -> None:
    fund_and_pay(dynamodb)
    first = post_reconcile(reconcile, **{"Idempotency-Key": "recon-1"})
    again = post_reconcile(reconcile, **{"Idempotency-Key": "recon-1"})
    assert body_of(again)["data"] == body_of(first)["data"]
    assert header(again, "Idempotent-Replayed") == "true"
    assert int(records(dynamodb)[0]["runs"]["N"]) == 1


def test_other_events_are_refused(reconcile: ModuleType) -> None:
    with pytest.raises(ValueError, match="unrecognised"):
        call(reconcile, {"Records": []})


def wallet_batches(first: int, count: int) -> list[Journal]:
    """Journals funding `count` wallets, forty per journal (what one transaction holds)."""
    journals = []
    for start in range(first, first + count, 40):
        wallets = range(start, min(start + 40, first + count))
        cents = 100 * len(wallets)
        entries = (
            credit(Account.external("stripe", "USD"), cents),
            debit(Account.reserve("USD"), cents),
            credit(Account.supply("USDC"), cents * 10_000),
            *(debit(Account.wallet(f"wal_{n:05d}", "USDC"), 1_000_000) for n in wallets),
        )
        journals.append(
            Journal(journal_id_for(JournalKind.FUND, f"batch-{start}"), JournalKind.FUND, entries, NOW)
        )
    return journals


def write_operations_one_by_one(client: Any, journal_operations: list[dict[str, Any]]) -> None:
    """The ledger's own operations, applied outside a transaction: moto deep-copies the whole table for
    every item of a transaction, which makes a thousand wallets' worth of transactions take minutes."""
    puts = [body["Item"] for op in journal_operations for kind, body in op.items() if kind == "Put"]
    for start in range(0, len(puts), 25):
        batch = [{"PutRequest": {"Item": item}} for item in puts[start : start + 25]]
        client.batch_write_item(RequestItems={TABLE: batch})
    for operation in journal_operations:
        if "Update" in operation:
            client.update_item(**operation["Update"])


def test_reconciliation_cost_does_not_grow_with_wallets(
    reconcile: ModuleType, dynamodb: Any, counting: CountingClient
) -> None:
    ledger = DynamoDBLedger(dynamodb, TABLE)
    for journal in wallet_batches(0, 10):
        ledger.post(journal)
    counting.calls.clear()
    assert call(reconcile, SCHEDULED)["status"] == "balanced"
    with_ten = Counter(counting.calls)

    for journal in wallet_batches(10, 990):
        write_operations_one_by_one(dynamodb, ledger.journal_operations(journal))
    assert ledger.totals()["USDC"].journals == 1 + 25
    assert ledger.balance(Account.wallet("wal_00999", "USDC")) == 1_000_000
    counting.calls.clear()
    assert call(reconcile, SCHEDULED)["status"] == "balanced"
    assert counting.calls == with_ten
    assert sum(with_ten.values()) <= 5 and "scan" not in with_ten
