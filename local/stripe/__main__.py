"""`python -m local.stripe --port N [--webhook-url URL] [--webhook-secret S] [--state-file F]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from local.stripe.app import Options, StripeStandIn


def parse_args(argv: list[str]) -> tuple[str, int, Options]:
    parser = argparse.ArgumentParser(prog="python -m local.stripe", description="Local Stripe API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STRIPE_STANDIN_PORT", "12111")))
    parser.add_argument("--webhook-url", default=None, help="where events are POSTed, signed as Stripe signs")
    parser.add_argument("--webhook-secret", default="whsec_local", help="the endpoint's signing secret")
    parser.add_argument(
        "--state-file", type=Path, default=None, help="JSON file that keeps state across restarts"
    )
    parser.add_argument(
        "--ach-delay", type=float, default=None, help="seconds before a processing ACH payment settles"
    )
    parser.add_argument("--webhook-attempts", type=int, default=5)
    parser.add_argument(
        "--webhook-backoff", type=float, default=1.0, help="first retry delay, doubled each time"
    )
    args = parser.parse_args(argv)
    if args.webhook_attempts < 1:
        parser.error("--webhook-attempts must be at least 1")
    options = Options(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        state_file=args.state_file,
        ach_delay_seconds=args.ach_delay,
        webhook_attempts=args.webhook_attempts,
        webhook_backoff_seconds=args.webhook_backoff,
    )
    return args.host, args.port, options


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    host, port, options = parse_args(sys.argv[1:] if argv is None else argv)
    standin = StripeStandIn(options)
    print(
        f"Stripe stand-in on http://{host}:{port} (webhooks -> {options.webhook_url or 'none'})", flush=True
    )
    uvicorn.run(standin.app, host=host, port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
