"""Alarms on every function's errors, every dead-letter queue and the money metrics, to one SNS topic."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import function_ids
from tests.support.template import resources_of_type


def alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["Properties"] for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()]


def test_every_alarm_notifies_the_encrypted_topic(template: dict[str, Any]) -> None:
    topics = resources_of_type(template, "AWS::SNS::Topic")
    assert len(topics) == 1
    topic_id, topic = next(iter(topics.items()))
    assert "KmsMasterKeyId" in topic["Properties"]
    for alarm in alarms(template):
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_function_error_alarms(template: dict[str, Any]) -> None:
    watched = {
        a["Dimensions"][0]["Value"]["Ref"]
        for a in alarms(template)
        if a.get("MetricName") == "Errors" and a.get("Namespace") == "AWS/Lambda"
    }
    assert watched == set(function_ids(template).values())


def test_dead_letter_queue_alarms(template: dict[str, Any]) -> None:
    watched = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms(template)
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert watched == set(resources_of_type(template, "AWS::SQS::Queue"))


def test_money_metric_alarms(template: dict[str, Any]) -> None:
    expressions = {
        m["Expression"] for a in alarms(template) for m in a.get("Metrics", []) if "Expression" in m
    }
    assert expressions == {
        'SELECT SUM(ReserveDiscrepancy) FROM "MonayWallets"',
        'SELECT SUM(ProviderFailover) FROM "MonayWallets"',
    }
    for alarm in alarms(template):
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0
