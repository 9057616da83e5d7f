"""A tiny webhook endpoint for tests: records what it receives and can fail on purpose."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    body: bytes
    signature: str | None
    status: int


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail_next = 0
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    status = 500 if receiver.fail_next > 0 else 200
                    receiver.fail_next = max(0, receiver.fail_next - 1)
                    receiver.received.append(Received(body, self.headers.get("Stripe-Signature"), status))
                    receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/stripe"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._changed:
            self.received.clear()
            self.fail_next = 0

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0) -> list[Received]:
        """Block until `predicate(received)` holds (woken by each delivery), or fail after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.received), timeout=timeout):
                raise AssertionError(f"webhooks never matched; got {len(self.received)}")
            return list(self.received)
