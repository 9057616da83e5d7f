"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request and answers
from a script (200, 500, 410, 429 with Retry-After, or hang past the sender's timeout)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # When the request arrived (time.monotonic), for tests of what waits on what.
    at: float = field(default_factory=time.monotonic)


@dataclass
class WebhookSink:
    """`answers` is consumed one per request (then `default`); an answer is a status, `(status, headers)`,
    or `("hang", seconds)`."""

    default: Any = 200
    answers: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                sink.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                answer = sink.answers.pop(0) if sink.answers else sink.default
                if isinstance(answer, tuple) and answer[0] == "hang":
                    time.sleep(answer[1])
                    answer = 200
                status, headers = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
