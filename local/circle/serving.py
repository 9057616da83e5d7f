"""The Circle stand-in in a background thread: `with BackgroundCircle() as circle: circle.base_url`."""

from __future__ import annotations

from local.circle.app import CircleStandIn
from local.serving import BackgroundServer


class BackgroundCircle(BackgroundServer):
    def __init__(self, seed: int = 0, port: int = 0) -> None:
        self.standin = CircleStandIn(seed)
        super().__init__(self.standin.app, "circle", port)
