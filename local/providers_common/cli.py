"""The command line both stand-ins share: `--host`, `--port`, `--seed`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

import uvicorn


def serve(prog: str, title: str, default_port: int, build: Callable[[int], Any], argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=f"Local {title} API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--seed", type=int, default=0, help="seed of the RNG behind probabilistic failures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    print(f"{title} stand-in on http://{args.host}:{args.port} (control: /_control/state)", flush=True)
    uvicorn.run(build(args.seed), host=args.host, port=args.port, log_level="warning")
    return 0


def main_of(prog: str, title: str, default_port: int, build: Callable[[int], Any]) -> Callable[[], int]:
    return lambda: serve(prog, title, default_port, build, sys.argv[1:])
