"""A vendor payout of 1,000 outside addresses on Tempo: provider calls and ledger writes per item, in-process
on moto with the Stripe, Tempo and Circle stand-ins. The treasury is funded by a card deposit through the
payouts function, the payout created by a merchant and approved by an admin there, and run by the
payout_worker handler as the bus rule invokes it (the run alone is counted). Prints numbers; never asserts.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from bench.money import bench_environment, counting_with_providers, money_rig
from bench.support import load_handler
from shared import bootstrap
from tests.integration.conftest import FakeLambdaContext, api_event

ITEMS = 1_000
MAKER = {"sub": "usr_bench_maker", "tenant_id": "ten_bench", "roles": "merchant"}
CHECKER = {"sub": "usr_bench_checker", "tenant_id": "ten_bench", "roles": "admin"}
WRITES = tuple(
    f"dynamodb.{op}" for op in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
)


def _call(
    handler: Any, method: str, path: str, principal: dict[str, str], body: Any = None
) -> dict[str, Any]:
    event = api_event(method, path, body=body, principal=principal)
    answer = handler.lambda_handler(event, FakeLambdaContext(function_name="payouts", remaining_ms=900_000))
    assert answer["statusCode"] in (200, 201), answer["body"]
    return dict(json.loads(answer["body"])["data"])


def run() -> dict[str, float]:
    bench_environment()
    with money_rig(service_name="payouts"):
        payouts = load_handler("payouts")
        worker = load_handler("payout_worker")
        deposit = {"amount": "2000.00", "payment_method": "pm_card_visa", "urgency": "instant"}
        _call(payouts, "POST", "/api/v1/treasury/deposit", MAKER, deposit)
        items = [
            {
                "recipient": {"address": "0x" + secrets.token_hex(20)},
                "amount": "1.25",
                "currency": "USDC",
                "reference": f"bill-{n}",
            }
            for n in range(ITEMS)
        ]
        started = time.perf_counter()
        body = {"purpose": "vendor", "items": items, "reference": "bench-vendors"}
        payout = _call(payouts, "POST", "/api/v1/payouts", MAKER, body)["payout"]
        created = time.perf_counter() - started
        _call(payouts, "POST", f"/api/v1/payouts/{payout['id']}/approve", CHECKER)
        event = {"detail-type": "payout.approved", "detail": {"data": {"payout_id": payout["id"]}}}
        context = FakeLambdaContext(function_name="payout_worker", remaining_ms=900_000)
        ledger = bootstrap.app().payouts._ledger
        post, journals = ledger.post, []

        def counted_post(journal: Any, also: Any = ()) -> Any:
            journals.append(journal.id)
            return post(journal, also)

        ledger.post = counted_post
        with counting_with_providers() as calls:
            started = time.perf_counter()
            outcome = worker.lambda_handler(event, context)
            elapsed = time.perf_counter() - started
        ledger.post = post
        provider = sum(n for k, n in calls.items() if k.startswith("provider."))
        writes = sum(calls.get(op, 0) for op in WRITES)
        status = outcome["status"]
        print(f"  {ITEMS} vendor items on Tempo: {status} in {elapsed:.2f} s (created in {created:.2f} s)")
        print(f"  provider calls per item: {provider / ITEMS:.3f} ({provider} in all)")
        print(
            f"  ledger journals per item: {len(journals) / ITEMS:.3f}; DynamoDB writes: {writes / ITEMS:.3f}"
        )
        for call, count in sorted(calls.items()):
            print(f"    {count} x {call}")
        return {
            "provider_per_item": provider / ITEMS,
            "ledger_per_item": len(journals) / ITEMS,
            "seconds": elapsed,
        }


if __name__ == "__main__":
    run()
