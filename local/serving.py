"""Serve a stand-in's ASGI app on a free local port in a background thread (tests, the local runtime)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import uvicorn


class BackgroundServer:
    """`with BackgroundServer(app, "tempo") as server:` serves on 127.0.0.1 at `server.base_url`."""

    def __init__(self, app: Any, name: str, port: int = 0, lifespan: str = "off") -> None:
        # A request hanging on an injected timeout must not hold the shutdown for its whole hang.
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan=lifespan,  # type: ignore[arg-type]
            timeout_graceful_shutdown=1,
        )
        self._name = name
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"{name}-standin", daemon=True)
        self.base_url = ""

    def start(self) -> BackgroundServer:
        self._thread.start()
        started = threading.Event()
        while not started.wait(0.01):
            if self._server.started:
                started.set()
            elif not self._thread.is_alive():
                raise RuntimeError(f"the {self._name} stand-in failed to start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
