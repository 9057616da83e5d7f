"""`python -m local.tempo --port N [--seed S]`: the Tempo stand-in over HTTP."""

from __future__ import annotations

import sys
from typing import Any

from local.providers_common.cli import main_of
from local.tempo.app import TempoStandIn


def build(seed: int) -> Any:
    return TempoStandIn(seed).app


if __name__ == "__main__":
    sys.exit(main_of("python -m local.tempo", "Tempo", 8545, build)())
