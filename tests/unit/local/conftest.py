"""moto's server mode as the local runtime runs it, for the tests of the runtime's moto paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.runtime.resources import _MotoServer, free_port


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server with the runtime's middleware and handler (streams need server mode: mock_aws routes
    them to DynamoDB)."""
    port = free_port()
    server = _MotoServer("127.0.0.1", port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
