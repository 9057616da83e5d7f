"""A real moto server (server mode, in-process, behind the runtime's middleware, so writes pulse the pollers'
Wakeups as in the runtime) and a fake runtime context for the event-source tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from local.runtime.clock import VirtualClock
from local.runtime.context import RuntimeContext
from local.runtime.events import EventSources
from local.runtime.resources import _MotoServer, free_port
from local.runtime.wakeups import Wakeups

from .fakes import REGION, FakeFunctions, FakeTemplate


@pytest.fixture(scope="session")
def moto_server() -> Iterator[_MotoServer]:
    server = _MotoServer("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_url(moto_server: _MotoServer) -> str:
    return f"http://127.0.0.1:{moto_server.port}"


@pytest.fixture(scope="session")
def wakeups(moto_server: _MotoServer) -> Wakeups:
    return moto_server.wakeups


@pytest.fixture
def make_ctx(moto_url: str, wakeups: Wakeups) -> Callable[..., RuntimeContext]:
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def aws(service: str) -> Any:
        # One client per service, as the runtime keeps them: creating a botocore client costs ~0.1 s.
        with lock:
            if service not in clients:
                session = boto3.session.Session()
                clients[service] = session.client(service, endpoint_url=moto_url, region_name=REGION)  # type: ignore[call-overload]
            return clients[service]

    def build(speed: float = 1.0, clock: VirtualClock | None = None) -> RuntimeContext:
        return RuntimeContext(
            template=FakeTemplate(),
            functions=FakeFunctions(),
            clock=clock or VirtualClock(speed=speed),
            aws=aws,
            moto_url=moto_url,
            log=logging.getLogger("local-events-test"),
            wakeups=wakeups,
        )

    return build


@pytest.fixture
def running() -> Iterator[list[EventSources]]:
    """Event sources a test started, stopped after it."""
    started: list[EventSources] = []
    yield started
    for sources in started:
        sources.stop()
