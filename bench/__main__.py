"""`make bench`: every benchmark in one run, printed as ratios (never asserted by tests)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from bench import (
    cold_import,
    consumer,
    cost,
    destruction,
    events_webhooks,
    funding,
    init_request,
    ledger_hot,
    payouts,
    reconcile,
    round_trips,
    runtime_overhead,
    wallet_creation,
)
from bench.support import restored_process_state

PARTS: tuple[tuple[str, Callable[[], object]], ...] = (
    ("cold import", cold_import.run),
    ("init + first request against moto", init_request.run),
    ("DynamoDB round trips", round_trips.run),
    ("wallet creation", wallet_creation.run),
    ("local runtime", runtime_overhead.run),
    ("paying and destruction", destruction.run),
    ("funding: calls per fund", funding.run),
    ("reconciliation: 1k vs 100k wallets", reconcile.run),
    ("ledger hot items: share of postings on the busiest item vs 1/N shards", ledger_hot.run),
    ("AWS cost per paid ephemeral invoice", cost.run),
    ("events: outbox -> history -> one webhook endpoint", events_webhooks.run),
    (
        "consumer: a transfer, a batch of 100 on Tempo, 20 concurrent transfers against the limit",
        consumer.run,
    ),
    ("payout of 1,000 vendor items on Tempo: provider calls and ledger writes per item", payouts.run),
)


def main() -> None:
    # Each part runs with the process state it found restored afterwards (environment, cached settings,
    # boto3's default session, the installed composition root), so one part cannot break the next. A part
    # that fails prints why and the rest still run; the exit status then tells the run was incomplete.
    failed: list[str] = []
    for title, run in PARTS:
        print(f"== {title}", flush=True)
        try:
            with restored_process_state():
                run()
        except Exception:
            failed.append(title)
            print(f"  FAILED: {title}")
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    if failed:
        print(f"== {len(failed)} of {len(PARTS)} parts failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
