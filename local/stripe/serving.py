"""Run the stand-in on a free local port in a background thread (tests, the local runtime)."""

from __future__ import annotations

import threading
from types import TracebackType

import uvicorn

from local.stripe.app import Options, StripeStandIn


class BackgroundStandIn:
    """`with BackgroundStandIn(options) as standin:` serves on 127.0.0.1 at `standin.base_url`."""

    def __init__(self, options: Options | None = None, port: int = 0) -> None:
        self.standin = StripeStandIn(options)
        config = uvicorn.Config(
            self.standin.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="stripe-standin", daemon=True)
        self.base_url = ""

    def start(self) -> BackgroundStandIn:
        self._thread.start()
        started = threading.Event()
        while not started.wait(0.01):
            if self._server.started:
                started.set()
            elif not self._thread.is_alive():
                raise RuntimeError("the Stripe stand-in failed to start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.standin.close()

    def __enter__(self) -> BackgroundStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
