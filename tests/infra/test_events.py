"""Stream mappings (filters, partial failures, destinations), rules, the bus, Scheduler's group and role."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import actions_of, as_list, function_ids, role_statements
from tests.support.template import resources_of_type

OUTBOX_PATTERN = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}},
}
LEASE_PATTERN = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "LEASE#"}]}}},
}


def mapping_of(template: dict[str, Any], folder: str) -> dict[str, Any]:
    target = function_ids(template)[folder]
    found = [
        m["Properties"]
        for m in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": target}
    ]
    assert len(found) == 1, found
    return found[0]


def test_only_stream_and_destroy_read_the_table_stream(template: dict[str, Any]) -> None:
    ids = function_ids(template)
    mappings = resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
    from_stream = {
        m["Properties"]["FunctionName"]["Ref"]
        for m in mappings
        if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])
    }
    assert from_stream == {ids["stream"], ids["destroy"]}


def test_the_import_worker_reads_its_queue_with_partial_failures(template: dict[str, Any]) -> None:
    ids = function_ids(template)
    [mapping] = [
        m["Properties"]
        for m in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"]["Ref"] == ids["invoice_imports"]
    ]
    queue_id = mapping["EventSourceArn"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_id]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["VisibilityTimeout"] == 360
    assert "KmsMasterKeyId" in queue
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    sender = template["Resources"][ids["invoice_batches"]]["Properties"]["Environment"]["Variables"]
    assert sender["IMPORT_QUEUE_URL"] == {"Ref": queue_id}


@pytest.mark.parametrize(("folder", "pattern"), [("stream", OUTBOX_PATTERN), ("destroy", LEASE_PATTERN)])
def test_stream_mapping_filter_is_exact(
    template: dict[str, Any], folder: str, pattern: dict[str, Any]
) -> None:
    filters = mapping_of(template, folder)["FilterCriteria"]["Filters"]
    assert [json.loads(f["Pattern"]) for f in filters] == [pattern]


@pytest.mark.parametrize("folder", ["stream", "destroy"])
def test_stream_mapping_failure_handling(template: dict[str, Any], folder: str) -> None:
    props = mapping_of(template, folder)
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["WalletsTable", "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 10
    assert 0 < props["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert 1 <= props["BatchSize"] <= 100
    assert props["StartingPosition"] == "TRIM_HORIZON"
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    queue = template["Resources"][queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert "KmsMasterKeyId" in queue["Properties"]


def test_every_queue_is_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    queues = resources_of_type(template, "AWS::SQS::Queue")
    # Eleven dead-letter / on-failure queues (the import queue's and the DomainEventsToWebhooks rule's among
    # them) and the invoice import queue.
    assert len(queues) == 12
    policies = resources_of_type(template, "AWS::SQS::QueuePolicy").values()
    for lid, queue in queues.items():
        # The stack key (tests/infra/test_checkov_findings.py checks which), not SQS-managed SSE.
        assert queue["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][1] == "Arn", lid
        statements = [
            s
            for p in policies
            if {"Ref": lid} in p["Properties"]["Queues"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ), lid


def rules_targeting(template: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    target_arn = {"Fn::GetAtt": [function_ids(template)[folder], "Arn"]}
    return [
        r["Properties"]
        for r in resources_of_type(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == target_arn for t in r["Properties"]["Targets"])
    ]


def test_scheduled_rules(template: dict[str, Any]) -> None:
    assert [r["ScheduleExpression"] for r in rules_targeting(template, "reconcile")] == ["cron(0 2 * * ? *)"]
    assert [r["ScheduleExpression"] for r in rules_targeting(template, "providers")] == ["rate(1 minute)"]
    assert [r["ScheduleExpression"] for r in rules_targeting(template, "sweeper")] == ["rate(5 minutes)"]
    schedules = rules_targeting(template, "invoice_schedules")
    assert [r["ScheduleExpression"] for r in schedules] == ["rate(5 minutes)"]


def test_realtime_gets_the_tick_and_the_domain_events(template: dict[str, Any]) -> None:
    rules = rules_targeting(template, "realtime")
    assert sorted(r.get("ScheduleExpression", "") for r in rules) == ["", "rate(1 minute)"]
    bus_rule = next(r for r in rules if "EventPattern" in r)
    assert bus_rule["EventPattern"] == {"source": ["monay.wallets"]}
    bus_id = bus_rule["EventBusName"]["Ref"]
    assert template["Resources"][bus_id]["Type"] == "AWS::Events::EventBus"


def test_webhook_delivery_gets_the_domain_events(template: dict[str, Any]) -> None:
    (rule,) = rules_targeting(template, "webhook_delivery")
    assert rule["EventPattern"] == {"source": ["monay.wallets"]}
    assert template["Resources"][rule["EventBusName"]["Ref"]]["Type"] == "AWS::Events::EventBus"


def test_rule_targets_have_dead_letter_queues_and_bounded_retries(template: dict[str, Any]) -> None:
    rules = resources_of_type(template, "AWS::Events::Rule").values()
    assert len(rules) == 8
    for rule in rules:
        for target in rule["Properties"]["Targets"]:
            dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            assert template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
            assert target["RetryPolicy"]["MaximumRetryAttempts"] <= 3
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600


def test_only_stream_may_put_events_and_only_on_the_bus(template: dict[str, Any]) -> None:
    bus_arn = {"Fn::GetAtt": [next(iter(resources_of_type(template, "AWS::Events::EventBus"))), "Arn"]}
    for folder, lid in function_ids(template).items():
        statements = [s for s in role_statements(template, lid) if "events:PutEvents" in as_list(s["Action"])]
        if folder == "stream":
            assert [s["Resource"] for s in statements] == [bus_arn]
        else:
            assert statements == [], folder


def scheduler_role(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    roles = {
        lid: r
        for lid, r in resources_of_type(template, "AWS::IAM::Role").items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "scheduler.amazonaws.com"
    }
    assert len(roles) == 1
    return next(iter(roles.items()))


def test_scheduler_role_may_only_invoke_destroy_webhook_delivery_and_payout_worker(
    template: dict[str, Any],
) -> None:
    role_id, role = scheduler_role(template)
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert "aws:SourceArn" in trust["Condition"]["ArnLike"]
    statements = [
        s
        for p in resources_of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoke = [s for s in statements if "lambda:InvokeFunction" in as_list(s["Action"])]
    ids = function_ids(template)
    allowed = (ids["destroy"], ids["webhook_delivery"], ids["payout_worker"])
    resources = [r for s in invoke for r in as_list(s["Resource"])]
    for function in allowed:
        assert {"Fn::GetAtt": [function, "Arn"]} in resources
    assert all(any(f in json.dumps(r) for f in allowed) for r in resources)
    # The DLQ is encrypted with the stack key: CDK's send grant adds the key's use, on that key alone.
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert all(len(as_list(s["Resource"])) == 1 and "SecurityKey" in json.dumps(s["Resource"]) for s in kms)
    assert actions_of(statements) - {"lambda:InvokeFunction"} <= {
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
    }


def test_schedule_managers_are_scoped_to_the_group(template: dict[str, Any]) -> None:
    role_id, _ = scheduler_role(template)
    group = next(iter(resources_of_type(template, "AWS::Scheduler::ScheduleGroup").values()))
    group_name = group["Properties"]["Name"]
    for folder, lid in function_ids(template).items():
        statements = role_statements(template, lid)
        scheduler = [s for s in statements if any(a.startswith("scheduler:") for a in as_list(s["Action"]))]
        pass_role = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
        if folder not in {
            "create_wallet",
            "pay",
            "destroy",
            "sweeper",
            "webhook_delivery",
            "payouts",
            "payout_worker",
        }:
            assert scheduler == [] and pass_role == [], folder
            continue
        assert len(scheduler) == 1
        assert sorted(as_list(scheduler[0]["Action"])) == [
            "scheduler:CreateSchedule",
            "scheduler:DeleteSchedule",
            "scheduler:GetSchedule",
        ]
        assert f":schedule/{group_name}/*" in json.dumps(scheduler[0]["Resource"])
        assert [s["Resource"] for s in pass_role] == [{"Fn::GetAtt": [role_id, "Arn"]}]
        env = template["Resources"][lid]["Properties"]["Environment"]["Variables"]
        assert env["SCHEDULE_GROUP_NAME"] == group_name
        assert env["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_the_payout_rule_runs_the_worker_on_the_run_events_the_service_writes(
    template: dict[str, Any],
) -> None:
    from infra.events import PAYOUT_RUN_EVENTS
    from shared.payouts.service import RUN_EVENTS

    assert PAYOUT_RUN_EVENTS == RUN_EVENTS
    worker = {"Fn::GetAtt": [function_ids(template)["payout_worker"], "Arn"]}
    [rule] = [
        r
        for r in resources_of_type(template, "AWS::Events::Rule").values()
        if any(t["Arn"] == worker for t in r["Properties"]["Targets"])
    ]
    assert rule["Properties"]["EventPattern"]["detail-type"] == list(RUN_EVENTS)
