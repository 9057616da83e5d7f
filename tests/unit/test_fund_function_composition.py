"""The fund function serves the refund route with its own environment from the template: no Scheduler, no
destroy function and no key table. Its capabilities must build from that alone (a 500 on every refund, found
by the fuzzing run, when the refund came from the settlement that also builds destruction)."""

from __future__ import annotations

from typing import Any

import pytest

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.config import from_environment
from tests.infra.conftest import function_ids
from tests.support.template import local_template

FUND_ONLY = ("TABLE_NAME", "STRIPE_SECRET_ARN", "PROVIDERS_SECRET_ARN", "CORS_ORIGINS")


@pytest.fixture
def fund_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    template = local_template()
    variables = template["Resources"][function_ids(template)["fund"]]["Properties"]["Environment"][
        "Variables"
    ]
    for name in ("SCHEDULE_GROUP_NAME", "SCHEDULER_ROLE_ARN", "DESTROY_FUNCTION_ARN", "KEY_TABLE_NAME"):
        assert name not in variables, f"the fund function now has {name}: revisit this test"
        monkeypatch.delenv(name, raising=False)
    for name in FUND_ONLY:
        monkeypatch.setenv(name, "fund-function-value")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return dict(variables)


def test_the_refund_capability_builds_with_the_fund_functions_environment(fund_environment: Any) -> None:
    keys = {"stripe_secret_key": "sk_test_fund", "stripe_webhook_secret": "whsec_fund"}
    bootstrap.use(Adapters(from_environment(), stripe_keys=keys, provider_keys={}))
    assert bootstrap.app().wallet_refunds is not None
    assert bootstrap.app().funding is not None
