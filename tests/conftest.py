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
