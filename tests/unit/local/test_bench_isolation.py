"""The runtime bench hands the next bench part this process as it found it: environment, settings, modules."""

from __future__ import annotations

import os
import sys

import boto3
import pytest

from bench import runtime_overhead
from shared.config import get_settings


def test_the_direct_handler_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("TABLE_NAME", "TableOfTheNextBench")
    get_settings.cache_clear()
    before = dict(os.environ)
    session = boto3.DEFAULT_SESSION

    with runtime_overhead.restored_process_state():
        handler = runtime_overhead.direct_handler("http://127.0.0.1:9", "RuntimeTable")
        # What the bench does: the handler is wired to the runtime's moto and table.
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
        assert get_settings().table_name == "RuntimeTable"
        assert sys.modules[handler.__name__] is handler

    assert dict(os.environ) == before
    assert get_settings().table_name == "TableOfTheNextBench"
    assert handler.__name__ not in sys.modules
    assert boto3.DEFAULT_SESSION is session


def test_state_is_restored_when_the_bench_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = dict(os.environ)
    with pytest.raises(RuntimeError), runtime_overhead.restored_process_state():
        os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        raise RuntimeError("moto went away")
    assert dict(os.environ) == before
