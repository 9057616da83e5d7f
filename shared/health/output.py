"""`GET /health`'s answer (the envelope's `data`)."""

from typing import Literal

from shared.models.output import Output


class HealthOut(Output):
    """Every named dependency check passed (`checks`: name -> "ok")."""

    status: Literal["ok"]
    checks: dict[str, str]
