"""`python -m local.circle --port N [--seed S]`: the Circle stand-in over HTTP."""

from __future__ import annotations

import sys
from typing import Any

from local.circle.app import CircleStandIn
from local.providers_common.cli import main_of


def build(seed: int) -> Any:
    return CircleStandIn(seed).app


if __name__ == "__main__":
    sys.exit(main_of("python -m local.circle", "Circle", 8546, build)())
