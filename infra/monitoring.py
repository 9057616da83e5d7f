"""Alarms on function errors, dead letters and the money metrics, all notifying one SNS topic."""

from __future__ import annotations

from aws_cdk import Duration, NestedStack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import METRICS_NAMESPACE

# Metrics Insights over the whole namespace: Powertools adds a `service` dimension, and either metric may
# be emitted by more than one function, so a fixed dimension set would miss some of them.
MONEY_METRICS = {
    "ReserveDiscrepancy": "Reconciliation found tokens minted != fiat reserved",
    "ProviderFailover": "The primary stablecoin provider was switched",
}
# The functions whose routes attempt payments (shared/api/payment_outcomes.py), and the alarm's bound.
PAYMENT_FUNCTIONS = ("fund", "pay")
PAYMENT_FAILURE_PERCENT = 5
# A claim past its deadline for this long was not finished by a dozen sweeps: a person must look.
STUCK_CLAIM_SECONDS = 3600


class Monitoring(Construct):
    """`AlarmTopic` (KMS-encrypted, TLS-only) and the alarms that notify it, in the nested stack `Alarms`
    (the topic stays in the root stack: its ARN is what operators subscribe to)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        functions: dict[str, lambda_.Function],
        queues: dict[str, sqs.Queue],
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)
        self.alarms_stack = NestedStack(self, "Alarms", description="Monay Wallets alarms")
        self.alarms: list[cloudwatch.Alarm] = []
        notify = actions.SnsAction(self.topic)

        # One alarm per group of (at most 10, CloudWatch's limit for a metric-math alarm) functions and of
        # dead-letter queues, not one each: with ~30 functions and ~12 queues the single-metric alarms alone
        # took 40 of CloudFormation's 500 resources a stack. The description names every member.
        errors = {
            name: function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM)
            for name, function in functions.items()
        }
        for index, group in enumerate(_groups(errors)):
            self._alarm(
                f"FunctionErrors{index}",
                _sum(group, "errors"),
                "Unhandled errors in: " + ", ".join(group),
                notify,
            )
        depths = {
            name: queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
            )
            for name, queue in queues.items()
        }
        for index, group in enumerate(_groups(depths)):
            self._alarm(
                f"DeadLetterDepth{index}",
                _sum(group, "waiting"),
                "Events that could not be delivered are waiting in: " + ", ".join(group),
                notify,
            )
        for metric_name, description in MONEY_METRICS.items():
            query = cloudwatch.MathExpression(
                # A CloudWatch Metrics Insights query built from the constants above, not SQL.
                expression=f'SELECT SUM({metric_name}) FROM "{METRICS_NAMESPACE}"',  # noqa: S608
                period=Duration.minutes(5),
                label=metric_name,
            )
            self._alarm(metric_name, query, description, notify)
        self._alarm(
            "PaymentFailureRate",
            payment_failure_rate(),
            f"More than {PAYMENT_FAILURE_PERCENT}% of fund and pay attempts failed over 5 minutes",
            notify,
            threshold=PAYMENT_FAILURE_PERCENT,
        )
        # Missing data breaches: the sweeper reports every run (every 5 minutes), so none for 10 minutes
        # means it is not running and open claims wait unseen.
        self._alarm(
            "StuckClaimAge",
            _sweeper_metric("OldestStuckClaimAgeSeconds", cloudwatch.Stats.MAXIMUM),
            "A claim (charge, refund, bank payment, destruction) open past its deadline for an hour, "
            "or the sweeper stopped reporting",
            notify,
            threshold=STUCK_CLAIM_SECONDS,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        notify: actions.SnsAction,
        *,
        threshold: float = 0,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = metric.create_alarm(
            self.alarms_stack,
            construct_id,
            alarm_description=description,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(notify)
        self.alarms.append(alarm)


# CloudWatch evaluates at most 10 metrics in one metric-math alarm.
ALARM_METRICS = 10


def _groups(metrics: dict[str, cloudwatch.IMetric]) -> list[dict[str, cloudwatch.IMetric]]:
    names = sorted(metrics)
    return [
        {name: metrics[name] for name in names[start : start + ALARM_METRICS]}
        for start in range(0, len(names), ALARM_METRICS)
    ]


def _sum(group: dict[str, cloudwatch.IMetric], label: str) -> cloudwatch.MathExpression:
    """The group's metrics added up, a missing one counting 0."""
    using = {f"m{i}": metric for i, metric in enumerate(group.values())}
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({key}, 0)" for key in using),
        using_metrics=using,
        period=Duration.minutes(5),
        label=label,
    )


def _payment_metric(name: str, service: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        # Powertools' one dimension: the function (POWERTOOLS_SERVICE_NAME is the folder's name).
        dimensions_map={"service": service},
        statistic=cloudwatch.Stats.SUM,
        period=Duration.minutes(5),
    )


def payment_failure_rate() -> cloudwatch.MathExpression:
    """Failed over attempted fund and pay calls, in percent, per 5 minutes (0 when nothing was attempted)."""
    using: dict[str, cloudwatch.IMetric] = {}
    for service in PAYMENT_FUNCTIONS:
        using[f"attempts_{service}"] = _payment_metric("PaymentAttempts", service)
        using[f"failures_{service}"] = _payment_metric("PaymentFailures", service)
    attempts = " + ".join(f"FILL(attempts_{s}, 0)" for s in PAYMENT_FUNCTIONS)
    failures = " + ".join(f"FILL(failures_{s}, 0)" for s in PAYMENT_FUNCTIONS)
    return cloudwatch.MathExpression(
        expression=f"IF(({attempts}) > 0, 100 * ({failures}) / ({attempts}), 0)",
        using_metrics=using,
        period=Duration.minutes(5),
        label="PaymentFailurePercent",
    )


def _sweeper_metric(name: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": "sweeper"},
        statistic=statistic,
        period=Duration.minutes(10),
    )
