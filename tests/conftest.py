"""Test-wide safety: no test may reach a real AWS account, whatever the developer's environment holds."""

from __future__ import annotations

import os

for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "MonayWallets",
    }
)

# moto's TransactWriteItems copies the whole table per operation; ours costs what it touches (same semantics).
from local.runtime import moto_transactions  # noqa: E402

moto_transactions.install()


import pytest  # noqa: E402

from shared import bootstrap  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_composition_root() -> object:
    """Each test composes its own adapters: nothing one test installed reaches the next."""
    bootstrap.reset()
    yield
    bootstrap.reset()


# -- distribution over pytest-xdist workers (`make test`: -n 2 --dist loadgroup --no-loadscope-reorder) ----
# Each file is one unit of work, as with --dist loadfile (module fixtures such as a runtime or a synth run
# once per file), unless a test names its own `xdist_group`: the long single tests (the fuzzing run's
# parts, the funding storm's variants) do, so they run on both workers. Units are handed out slowest kinds
# first (those long tests, then end-to-end, infra, integration, unit), so a worker that frees up near the
# end takes a short unit; xdist's default order, by test count, put the one-test fuzzing file last.
_AFTER_OWN_GROUPS = ("tests/e2e/", "tests/infra/", "tests/integration/")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            rank[item.nodeid] = 0
            continue
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
        kinds = [n for n, prefix in enumerate(_AFTER_OWN_GROUPS, 1) if item.nodeid.startswith(prefix)]
        rank[item.nodeid] = kinds[0] if kinds else len(_AFTER_OWN_GROUPS) + 1
    items.sort(key=lambda item: rank[item.nodeid])
