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


def _math_members(template: dict[str, Any], metric_name: str) -> list[dict[str, Any]]:
    """The dimension values of every `metric_name` inside the alarms' metric math."""
    found = []
    for alarm in alarms(template):
        for query in alarm.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") == metric_name:
                assert len(alarm["Metrics"]) <= 11  # ten metrics and their sum: CloudWatch's limit
                found.append(metric["Dimensions"][0]["Value"])
    return found


def test_function_error_alarms(template: dict[str, Any]) -> None:
    watched = [value["Ref"] for value in _math_members(template, "Errors")]
    assert sorted(watched) == sorted(function_ids(template).values())


def test_dead_letter_queue_alarms(template: dict[str, Any]) -> None:
    watched = {
        value["Fn::GetAtt"][0] for value in _math_members(template, "ApproximateNumberOfMessagesVisible")
    }
    # Every queue but the import work queue (its messages are work, not failures) is a dead-letter queue.
    work = {
        lid
        for lid in resources_of_type(template, "AWS::SQS::Queue")
        if "RedrivePolicy" in template["Resources"][lid]["Properties"]
    }
    assert len(work) == 1
    assert watched == set(resources_of_type(template, "AWS::SQS::Queue")) - work


def test_money_metric_alarms(template: dict[str, Any]) -> None:
    expressions = {
        m["Expression"]
        for a in alarms(template)
        for m in a.get("Metrics", [])
        if str(m.get("Expression", "")).startswith("SELECT")
    }
    assert expressions == {
        'SELECT SUM(ReserveDiscrepancy) FROM "MonayWallets"',
        'SELECT SUM(ProviderFailover) FROM "MonayWallets"',
    }
    for alarm in alarms(template):
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        if alarm.get("MetricName") not in (None, "OldestStuckClaimAgeSeconds") or any(
            str(m.get("Expression", "")).startswith("SELECT") for m in alarm.get("Metrics", [])
        ):
            assert alarm["Threshold"] == 0


def test_payment_failure_rate_alarm_divides_failures_by_attempts_of_fund_and_pay(
    template: dict[str, Any],
) -> None:
    (alarm,) = [a for a in alarms(template) if "fund and pay attempts failed" in a["AlarmDescription"]]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (5, 1)
    metrics = alarm["Metrics"]
    (expression,) = [m for m in metrics if m.get("ReturnData", True) and "Expression" in m]
    stats = {m["Id"]: m["MetricStat"] for m in metrics if "MetricStat" in m}
    assert {
        (s["Metric"]["MetricName"], s["Metric"]["Dimensions"][0]["Value"], s["Stat"], s["Period"])
        for s in stats.values()
    } == {
        ("PaymentAttempts", "fund", "Sum", 300),
        ("PaymentFailures", "fund", "Sum", 300),
        ("PaymentAttempts", "pay", "Sum", 300),
        ("PaymentFailures", "pay", "Sum", 300),
    }
    assert all(s["Metric"]["Namespace"] == "MonayWallets" for s in stats.values())
    # Every series the expression names is one of the four, and it yields a percentage.
    assert expression["Expression"].startswith("IF((") and "100 *" in expression["Expression"]
    assert all(metric_id in expression["Expression"] for metric_id in stats)


def test_stuck_claims_alarm_after_an_hour_or_when_the_sweeper_goes_quiet(template: dict[str, Any]) -> None:
    (alarm,) = [a for a in alarms(template) if a.get("MetricName") == "OldestStuckClaimAgeSeconds"]
    assert (alarm["Threshold"], alarm["Statistic"], alarm["Namespace"]) == (3600, "Maximum", "MonayWallets")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "sweeper"}]
    assert alarm["TreatMissingData"] == "breaching" and alarm["Period"] == 600
