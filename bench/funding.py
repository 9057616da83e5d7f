"""Calls per fund (card, synchronous): AWS operations, Stripe requests and provider HTTP calls, in-process on
moto with the Stripe, Tempo and Circle stand-ins, through the fund function's handler. Prints numbers;
never asserts.

The first fund warms the process (provider health rows, pooled clients); the next ones are measured, one
without and one with an Idempotency-Key (Powertools' idempotency record adds its own round trips).
"""

from __future__ import annotations

from bench.money import bench_environment, counting_with_providers, money_rig, print_calls


def run() -> dict[str, dict[str, int]]:
    bench_environment()
    with money_rig(service_name="fund") as rig:
        rig.fund_wallet(rig.new_wallet())  # warm: health rows, breaker items, pooled connections
        results: dict[str, dict[str, int]] = {}
        for label, headers in (
            ("without Idempotency-Key", {}),
            ("with Idempotency-Key", {"Idempotency-Key": "bench-fund-1"}),
        ):
            wallet_id = rig.new_wallet()
            with counting_with_providers() as calls:
                data = rig.fund_wallet(wallet_id, headers)
            results[label] = print_calls(f"fund {label} (minted at {data['provider']})", calls)
        return results


if __name__ == "__main__":
    run()
