"""The Tempo stand-in in a background thread: `with BackgroundTempo() as tempo: tempo.base_url`."""

from __future__ import annotations

from local.serving import BackgroundServer
from local.tempo.app import TempoStandIn


class BackgroundTempo(BackgroundServer):
    def __init__(self, seed: int = 0, port: int = 0) -> None:
        self.standin = TempoStandIn(seed)
        super().__init__(self.standin.app, "tempo", port)
