"""Paying and destruction: AWS, Stripe and provider calls per pay (with the destruction it triggers) and per
destroy alone (the schedule trigger of an unpaid funded wallet), in-process on moto with the stand-ins;
then the virtual delay from `expires_at` to `destroyed` through the Scheduler path and through the TTL-sweep
path in the local runtime. Prints numbers; never asserts.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.money import MERCHANT, bench_environment, counting_with_providers, money_rig, print_calls
from bench.support import load_handler
from tests.integration.conftest import FakeLambdaContext, api_event

# Runtime part: wallets per path, the speed factor (as the e2e test), and their creation spacing.
WALLETS_PER_PATH = 5
SPEED = float(os.environ.get("BENCH_DESTRUCTION_SPEED", "5"))
SPACING = 0.6


def calls_per_pay_and_destroy() -> dict[str, dict[str, int]]:
    bench_environment(POWERTOOLS_METRICS_DISABLED_EMF="true")
    with money_rig(attempts=1) as rig:
        # pay and destroy run over the composition root the rig installed (its stand-ins, clock and moto).
        pay = load_handler("pay")
        destroy = load_handler("destroy")

        def funded_wallet(ttl: int) -> str:
            return rig.new_wallet(ttl=ttl, mode_override="ephemeral", funded=True)

        results: dict[str, dict[str, int]] = {}
        # The first of each kind warms adapters (health rows, cardholder); the second is measured.
        for _ in range(2):
            wallet_id = funded_wallet(3600)
            with counting_with_providers() as calls:
                event = api_event(
                    "POST", f"/api/v2/invoice-wallets/{wallet_id}/pay-invoice", body={}, principal=MERCHANT
                )
                answer = pay.lambda_handler(event, FakeLambdaContext(function_name="pay"))
            assert answer["statusCode"] == 200, answer
        # Stripe paths are shown without their object id: `POST /v1/issuing/cards` here is the card's cancel.
        results["pay"] = print_calls("pay-invoice in full (ephemeral: destruction included)", calls)
        for _ in range(2):
            wallet_id = funded_wallet(60)
            rig.clock.advance(seconds=61)
            with counting_with_providers() as calls:
                outcome = destroy.lambda_handler(
                    {"wallet_id": wallet_id, "trigger": "schedule"},
                    FakeLambdaContext(function_name="destroy"),
                )
            assert outcome["result"] == "destroyed", outcome
        results["destroy"] = print_calls(
            "destroy alone (schedule trigger, unpaid funded wallet: burn + refund of the whole balance)",
            calls,
        )
        with counting_with_providers() as calls:
            again = destroy.lambda_handler(
                {"wallet_id": wallet_id, "trigger": "schedule"}, FakeLambdaContext(function_name="destroy")
            )
        assert again["result"] == "already_destroyed", again
        results["again"] = print_calls("a later trigger finding it done", calls)
        return results


def _median_max(values: list[float]) -> str:
    if not values:
        return "none measured"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def delays_through_the_runtime() -> dict[str, list[float]]:
    from tests.e2e import test_destruction_e2e as e2e
    from tests.e2e.system import project_system

    e2e.SPEED = SPEED  # the helpers convert virtual waits with it
    delays: dict[str, list[float]] = {"schedule": [], "ttl": [], "schedule_expired": [], "ttl_expired": []}
    with (
        tempfile.TemporaryDirectory() as folder,
        project_system(Path(folder), speed=SPEED) as system,
        httpx.Client(base_url=system.rest_url, timeout=60) as http,
    ):
        group = e2e.scheduler_group(system)
        scheduler = system.aws("scheduler")
        made: list[tuple[str, dict[str, Any]]] = []
        _warm_creation(system, http)
        for index in range(2 * WALLETS_PER_PATH):
            path = "schedule" if index % 2 == 0 else "ttl"
            wallet = e2e.ephemeral_wallet(system, http)
            if index == 0:
                e2e.warm_destroy(system, group, wallet["wallet_id"])
            if path == "ttl":
                scheduler.delete_schedule(Name=f"destroy-{wallet['wallet_id']}", GroupName=group)
            made.append((path, wallet))
            time.sleep(SPACING)
        missing = 0
        for path, wallet in made:
            try:
                facts = e2e.await_destruction(system, wallet)
            except AssertionError:
                missing += 1
                continue
            if facts["trigger"] != path:
                note = f"{wallet['wallet_id']} meant for the {path} path, destroyed by {facts['trigger']}"
                print(f"  note: {note}")
            delays[facts["trigger"]].append(e2e.delay_of(facts))
            started = e2e.epoch(facts["started_at"]) - e2e.epoch(facts["expires_at"])
            delays[f"{facts['trigger']}_expired"].append(started)
    print(f"  speed {SPEED:g}: {WALLETS_PER_PATH} unpaid 60 s wallets per path, created {SPACING} s apart")
    print(f"  Scheduler at() path, expires_at -> destroyed: {_median_max(delays['schedule'])} (virtual)")
    print(f"                       expires_at -> expired:   {_median_max(delays['schedule_expired'])}")
    print(f"  lease TTL sweep path, expires_at -> destroyed: {_median_max(delays['ttl'])} (virtual)")
    print(f"                       expires_at -> expired:   {_median_max(delays['ttl_expired'])}")
    if missing:
        print(f"  {missing} wallet(s) not destroyed within the wait")
    return delays


def _warm_creation(system: Any, http: httpx.Client, attempts: int = 3) -> None:
    """One unmeasured creation first: it also starts create_wallet's worker, whose import (while the runtime
    warms every other function too) can outlast the function's timeout on a loaded machine (a 502)."""
    from tests.e2e import test_destruction_e2e as e2e

    for attempt in range(attempts):
        try:
            e2e.ephemeral_wallet(system, http)
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def run() -> dict[str, Any]:
    started = time.perf_counter()
    saved = dict(os.environ)
    try:
        calls = calls_per_pay_and_destroy()
    finally:
        # The runtime's functions inherit this environment: they must log as `make run` does.
        os.environ.clear()
        os.environ.update(saved)
    delays = delays_through_the_runtime()
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return {"calls": calls, "delays": delays}


if __name__ == "__main__":
    run()
