"""Test-wide safety: no test may reach a real AWS account, whatever the developer's environment holds."""

from __future__ import annotations

import functools
import os
from typing import Any

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

# Every test starts moto afresh (mock_aws resets boto3's default session), so each boto3 client the test or
# the code under test builds used to load its service model, the endpoint rules and the partitions from
# botocore's JSON files again: about 150 ms a client, most of an integration test's setup. One loader per
# data path for the whole process keeps those files parsed; botocore already shares the loaded models
# between the clients of one session, read-only, as production's one session per process does.
import botocore.loaders  # noqa: E402
import botocore.session  # noqa: E402

botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)

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


# -- distribution over pytest-xdist workers (`make test`: -n 2 --dist loadfile --no-loadscope-reorder) ----
# Each file is one unit of work, as --dist loadfile makes it (module fixtures such as a runtime or a synth
# run once per file), except the long single tests below, each a unit of its own so both workers take
# some. (xdist_group marks cannot say this: xdist 3.8 renames `item._nodeid`, which pytest 9 no longer
# reads, so --dist loadgroup schedules test by test.) Units are handed out slowest kinds first (those long
# tests, then end-to-end, infra, integration, unit), so a worker that frees up near the end takes a short
# unit; xdist's default order, by test count, put the one-test fuzzing file last.
OWN_UNITS = (
    "tests/e2e/test_openapi_fuzz_e2e.py::test_every_operation_answers_as_documented[",
    "tests/integration/test_funding_faults.py::test_a_seeded_storm_of_concurrent_operations",
)
INFRA = "tests/infra/"
_BY_KIND = ("tests/e2e/", INFRA, "tests/integration/")


def _rank(nodeid: str) -> int:
    if nodeid.startswith(OWN_UNITS):
        return 0
    kinds = [n for n, prefix in enumerate(_BY_KIND, 1) if nodeid.startswith(prefix)]
    return kinds[0] if kinds else len(_BY_KIND) + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _rank(item.nodeid))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndLongTests(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(OWN_UNITS):
                return nodeid
            # The infra tests share one synthesis per worker (a minute on a busy machine): all of them on
            # one worker synthesize once, where spread by file both workers did.
            if nodeid.startswith(INFRA):
                return INFRA
            return super()._split_scope(nodeid)

    return FilesAndLongTests(config, log)
