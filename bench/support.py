"""What the benchmarks share: loading a handler module by path, installing the composition root its
handlers run over, and timing helpers."""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from shared.bootstrap import Adapters, Capabilities

ROOT = Path(__file__).resolve().parents[1]


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py under a unique module name (every handler is `handler`)."""
    path = ROOT / "functions" / function / "handler.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function}_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def installed(adapters: Adapters) -> Iterator[Capabilities]:
    """The process's composition root over `adapters` while the block runs (every handler loaded here asks
    `shared.bootstrap.app()` for its capabilities); none installed afterwards."""
    from shared import bootstrap

    try:
        yield bootstrap.use(adapters)
    finally:
        bootstrap.reset()


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


@contextmanager
def restored_process_state() -> Iterator[None]:
    """On exit, this process as it was: os.environ, the settings cache, boto3's default session (it caches
    credentials) and no handler module loaded inside. The bench parts after this one run in-process on moto:
    a leftover AWS_ENDPOINT_URL of a stopped moto server made them fail with EndpointConnectionError."""
    from shared import bootstrap
    from shared.config import get_settings

    environ = dict(os.environ)
    modules = set(sys.modules)
    session = boto3.DEFAULT_SESSION
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        get_settings.cache_clear()
        bootstrap.reset()
        boto3.DEFAULT_SESSION = session
        for name in set(sys.modules) - modules:
            if name.startswith("bench_") and name.endswith("_handler"):
                del sys.modules[name]
