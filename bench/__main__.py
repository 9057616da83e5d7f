"""`make bench`: every benchmark in one run, printed as ratios (never asserted by tests)."""

from __future__ import annotations

from bench import (
    cold_import,
    destruction,
    funding,
    ledger_hot,
    reconcile,
    round_trips,
    runtime_overhead,
    wallet_creation,
)


def main() -> None:
    print("== cold import")
    cold_import.run()
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
    print("== ledger hot items: share of postings on the busiest item vs 1/N shards")
    ledger_hot.run()


if __name__ == "__main__":
    main()
