"""`python -m local.runtime`: serve a synthesized CloudFormation template locally on moto."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from local.runtime.config import DEFAULT_JWT_SECRET, RuntimeConfig
from local.runtime.server import LocalRuntime, Options


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m local.runtime", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("local/runtime.toml"))
    parser.add_argument("--template", type=Path, default=None, help="default: the config's `template`")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WALLETS_PORT", "3001")))
    parser.add_argument("--speed", type=float, default=float(os.environ.get("WALLETS_SPEED", "1")))
    parser.add_argument("--state-file", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    template = args.template or RuntimeConfig.load(args.config).template
    if template is None:
        parser.error("no --template given and the config names no `template`")
    return Options(
        template=template,
        config=args.config,
        port=args.port,
        speed=args.speed,
        jwt_secret=os.environ.get("WALLETS_JWT_SECRET", DEFAULT_JWT_SECRET),
        state_file=args.state_file,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=os.environ.get("WALLETS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return LocalRuntime(
        parse_args(sys.argv[1:] if argv is None else argv), logging.getLogger("runtime")
    ).run()


if __name__ == "__main__":
    sys.exit(main())
