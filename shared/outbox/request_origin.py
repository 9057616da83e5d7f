"""Where the request being served came from (client IP, request id), for the audit entries it writes.

Set by the REST edge (shared/api) around each request and read by `audit_entry`, so every service's audit
entries carry them without each use case passing them along. A Lambda process serves one request at a
time; a context variable also keeps threads a service starts from reading another request's origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None
    request_id: str | None


_current: ContextVar[RequestOrigin | None] = ContextVar("request_origin", default=None)


def current_origin() -> RequestOrigin | None:
    return _current.get()


@contextmanager
def serving(origin: RequestOrigin) -> Iterator[None]:
    """`origin` for the duration of one request (scheduled and stream work has none)."""
    token = _current.set(origin)
    try:
        yield
    finally:
        _current.reset(token)
