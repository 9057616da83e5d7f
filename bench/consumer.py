"""Consumer money, in-process on moto with the Stripe, Tempo and Circle stand-ins, through the consumer
handlers. Prints numbers; never asserts.

- A transfer between consumers: AWS calls, and the TransactWriteItems it commits in (the target is one,
  with the limit check inside it: the usage counters' guarded updates beside the journal).
- A batch of 100 outside addresses on Tempo: provider calls (the target is one) and DynamoDB writes.
- 20 concurrent transfers of one level-1 person that together pass the daily limit: how many succeed
  against how many fit (they must be equal).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from bench.money import MoneyRig, bench_environment, counting_with_providers, money_rig, print_calls
from bench.support import load_handler
from shared import bootstrap
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.bootstrap import Adapters
from shared.ledger import movements
from tests.integration.conftest import FakeLambdaContext, api_event, set_tenant_limits
from tests.integration.test_wallets_api import LockedClient

TENANT = "ten_bench"
DAILY_LEVEL_1 = Decimal(1000)
CONCURRENT = 20
EACH = Decimal(120)


def _person(name: str) -> dict[str, str]:
    return {"sub": f"usr_{name}", "tenant_id": TENANT, "roles": "consumer"}


ALICE, BOB, CAROL = _person("alice"), _person("bob"), _person("carol")


class ConsumerCalls:
    def __init__(self) -> None:
        self._handlers = {
            name: load_handler(name) for name in ("consumer", "consumer_money", "consumer_transfers")
        }

    def call(self, function: str, path: str, who: dict[str, str], body: Any) -> dict[str, Any]:
        event = api_event("POST", f"/api/consumer/{path}", body=body, principal=who)
        answer = self._handlers[function].lambda_handler(event, FakeLambdaContext(function_name=function))
        return dict(answer)

    def data(self, function: str, path: str, who: dict[str, str], body: Any) -> dict[str, Any]:
        answer = self.call(function, path, who, body)
        assert answer["statusCode"] in (200, 201), answer["body"]
        return dict(json.loads(answer["body"])["data"])


@contextmanager
def captured_transactions(client: Any) -> Iterator[list[list[dict[str, Any]]]]:
    """The TransactItems of every TransactWriteItems `client` sends while the block runs."""
    sent: list[list[dict[str, Any]]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(list(params.get("TransactItems", [])))

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", capture)
    try:
        yield sent
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", capture)


def _limit_checks(items: list[dict[str, Any]]) -> int:
    """Guarded usage-counter updates among one transaction's items (the KYC limit check)."""
    return sum(
        1
        for item in items
        if "Update" in item
        and item["Update"]["Key"]["sk"]["S"].startswith("USAGE#")
        and ":room" in item["Update"].get("ConditionExpression", "")
    )


def _level(rig: MoneyRig, who: dict[str, str], level: int) -> None:
    """The person's KYC level set as a verified Identity session would leave it (bench setup only)."""
    rig.dynamodb.update_item(
        TableName=rig.settings.table_name,
        Key={"pk": {"S": f"CONSUMER#{TENANT}#{who['sub']}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET kyc_level = :level",
        ExpressionAttributeValues={":level": {"N": str(level)}},
    )


def _seed(rig: MoneyRig, wallet_id: str, dollars: int) -> None:
    """USDC in the ledger as a deposit brings it (internal transfers need no tokens at a provider)."""
    DynamoDBLedger(rig.dynamodb, rig.settings.table_name).post(
        movements.funding(
            operation_id=f"bench-seed-{wallet_id}",
            wallet_id=wallet_id,
            tenant_id=TENANT,
            currency="USD",
            token="USDC",
            fiat_amount=dollars * 100,
            created_at=rig.clock.now(),
        )
    )


def run() -> dict[str, Any]:
    bench_environment()
    with money_rig(service_name="consumer") as rig:
        set_tenant_limits(rig.dynamodb, TENANT, consumer_money_per_minute=1000, tenant_money_per_second=1000)
        calls = ConsumerCalls()
        wallets = {}
        for n, who in enumerate((ALICE, BOB, CAROL)):
            body = {"email": f"{who['sub']}@example.com", "phone": f"+1415555030{n}"}
            wallets[who["sub"]] = calls.data("consumer", "onboard", who, body)["wallet"]["wallet_id"]
        _level(rig, ALICE, 3)
        # A card deposit: minted at Tempo, so the batch below has tokens to send from Alice's address.
        deposit = {"amount": "5000.00", "payment_method": "pm_card_visa", "urgency": "instant"}
        calls.data("consumer_money", "deposit", ALICE, deposit)
        calls.data("consumer_money", "transfer", ALICE, {"to": BOB["sub"], "amount": "1"})  # warm
        results: dict[str, Any] = {}

        with counting_with_providers() as counted, captured_transactions(rig.dynamodb) as sent:
            calls.data("consumer_money", "transfer", ALICE, {"to": BOB["sub"], "amount": "12.50"})
        totals = print_calls("transfer between consumers", counted)
        checks = [_limit_checks(items) for items in sent]
        round_trips = sum(n for k, n in counted.items() if k.split(".")[-1] in _WRITES)
        print(f"  transfer: {round_trips} write round trips (the others are the caller's rate-limit windows)")
        print(
            f"  transfer: {len(sent)} TransactWriteItems ({', '.join(str(len(i)) for i in sent)} items), "
            f"limit check inside: {'yes' if any(checks) else 'no'} ({sum(checks)} guarded counters)"
        )
        results["transfer"] = {
            **totals,
            "write_round_trips": round_trips,
            "transactions": len(sent),
            "limit_checks_inside": sum(checks),
        }

        targets = ["0x" + secrets.token_hex(20) for _ in range(100)]
        lines = [{"to": t, "amount": "1.25", "currency": "USDC"} for t in targets]
        with counting_with_providers() as counted:
            batch = calls.data("consumer_transfers", "batch-transfer", ALICE, {"recipients": lines})["batch"]
        totals = print_calls(f"batch of 100 on Tempo ({batch['status']})", counted)
        writes = sum(n for k, n in counted.items() if k.split(".")[-1] in _WRITES)
        print(f"  batch of 100: {totals['provider']} provider calls, {writes} DynamoDB writes")
        results["batch"] = {**totals, "dynamodb_writes": writes}

        results["concurrent"] = _concurrent_transfers(rig, calls, wallets[CAROL["sub"]])
        return results


_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def _concurrent_transfers(rig: MoneyRig, calls: ConsumerCalls, carol_wallet: str) -> dict[str, int]:
    """Carol (level 1, $1,000 a day) holds $3,000 and sends 20 transfers of $120 at once."""
    _seed(rig, carol_wallet, 3000)
    fit = int(DAILY_LEVEL_1 // EACH)
    # moto's in-process backend is not thread-safe: each call atomic, threads interleave between calls.
    locked = LockedClient(rig.dynamodb, threading.Lock())
    bootstrap.use(Adapters(rig.settings, **{**rig.adapters, "dynamodb": locked}))
    body = {"to": BOB["sub"], "amount": str(EACH)}
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(
            pool.map(lambda _: calls.call("consumer_money", "transfer", CAROL, body), range(CONCURRENT))
        )
    codes = Counter(
        "ok" if a["statusCode"] == 200 else str(json.loads(a["body"]).get("code")) for a in answers
    )
    refused = {code: n for code, n in codes.items() if code != "ok"}
    print(
        f"  {CONCURRENT} concurrent transfers of ${EACH} at level 1 (${DAILY_LEVEL_1} a day): "
        f"{codes['ok']} succeeded, {fit} fit; the others: {refused}"
    )
    return {"succeeded": codes["ok"], "fit": fit}


if __name__ == "__main__":
    run()
