"""`make bench`: every benchmark in one run, printed as ratios (never asserted by tests)."""

from __future__ import annotations

from bench import (
    cold_import,
    cost,
    destruction,
    funding,
    init_request,
    reconcile,
    round_trips,
    runtime_overhead,
    wallet_creation,
)


def main() -> None:
    print("== cold import")
    cold_import.run()
    print("== init + first request against moto")
    init_request.run()
    print("== DynamoDB round trips")
    round_trips.run()
    print("== wallet creation")
    wallet_creation.run()
    print("== local runtime")
    runtime_overhead.run()
    print("== paying and destruction")
    destruction.run()
    print("== funding: calls per fund")
    funding.run()
    print("== reconciliation: 1k vs 100k wallets")
    reconcile.run()
    print("== AWS cost per paid ephemeral invoice")
    cost.run()


if __name__ == "__main__":
    main()
