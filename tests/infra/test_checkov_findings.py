"""What checkov asks of the template: queues and log groups under the stack key, reserved concurrency in
front of Stripe, KMS and the providers, and a reason on every check a resource skips. checkov itself runs
in `make synth` (over a minute on a loaded 2-CPU machine, in its own virtualenv), not here."""

from __future__ import annotations

from typing import Any

import pytest

from infra.functions import RESERVED_CONCURRENCY, reserved_concurrency
from tests.infra.conftest import function_ids
from tests.support.template import resources_of_type

MONEY_FUNCTIONS = {
    "create_wallet",
    "fund",
    "pay",
    "destroy",
    "webhooks",
    "consumer",
    "consumer_transfers",
    "consumer_swaps",
    "consumer_money",
    "reconcile",
    "providers",
}


def _stack_key(template: dict[str, Any]) -> str:
    keys = [lid for lid in resources_of_type(template, "AWS::KMS::Key") if lid.startswith("SecurityKey")]
    assert len(keys) == 1
    return keys[0]


def test_every_queue_is_encrypted_with_the_stack_key(template: dict[str, Any]) -> None:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    assert queues
    key = _stack_key(template)
    for lid, queue in queues.items():
        assert queue["Properties"].get("KmsMasterKeyId") == {"Fn::GetAtt": [key, "Arn"]}, lid


def test_every_log_group_is_encrypted_with_the_stack_key(template: dict[str, Any]) -> None:
    groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert len(groups) >= 16
    key = _stack_key(template)
    for lid, group in groups.items():
        assert group["Properties"].get("KmsKeyId") == {"Fn::GetAtt": [key, "Arn"]}, lid


def test_the_key_policy_lets_logs_and_eventbridge_use_it_for_this_account_only(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"][_stack_key(template)]["Properties"]["KeyPolicy"]["Statement"]
    by_sid = {s.get("Sid"): s for s in statements}
    logs = by_sid["AllowCloudWatchLogsToUseKeyForLogGroups"]
    assert "logs." in str(logs["Principal"]["Service"])
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    events = by_sid["AllowEventBridgeToUseKeyForDeadLetterQueues"]
    assert events["Principal"]["Service"] == "events.amazonaws.com"
    assert "aws:SourceAccount" in events["Condition"]["StringEquals"]


def test_functions_that_call_outside_services_have_modest_reserved_concurrency(
    template: dict[str, Any],
) -> None:
    functions = template["Resources"]
    reserved = {
        folder: functions[lid]["Properties"].get("ReservedConcurrentExecutions")
        for folder, lid in function_ids(template).items()
    }
    for folder in MONEY_FUNCTIONS:
        assert reserved[folder] == RESERVED_CONCURRENCY[folder], folder
    # Lambda keeps at least 100 of the account's (default 1,000) unreserved: stay well inside it.
    assert sum(value for value in reserved.values() if value) <= 200


def test_reserved_concurrency_is_configurable_by_context() -> None:
    assert reserved_concurrency("off") == {}
    assert reserved_concurrency('{"fund": 50}')["fund"] == 50
    assert reserved_concurrency({"pay": 5})["pay"] == 5
    for bad in ('{"nope": 1}', '{"fund": 0}', '{"fund": true}'):
        with pytest.raises(ValueError):
            reserved_concurrency(bad)


def test_every_checkov_skip_carries_its_reason(template: dict[str, Any]) -> None:
    skipped = 0
    for lid, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_AWS_") and len(skip["comment"]) > 40, lid
            skipped += 1
    functions = resources_of_type(template, "AWS::Lambda::Function")
    for lid, function in functions.items():
        ids = {s["id"] for s in function["Metadata"]["checkov"]["skip"]}
        assert {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"} <= ids, lid
        assert ("CKV_AWS_115" in ids) is ("ReservedConcurrentExecutions" not in function["Properties"]), lid
    assert skipped >= 3 * len(functions)
