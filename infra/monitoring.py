"""Alarms on function errors, dead letters and the money metrics, all notifying one SNS topic."""

from __future__ import annotations

from aws_cdk import Duration
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


class Monitoring(Construct):
    """`AlarmTopic` (KMS-encrypted, TLS-only) and the alarms that notify it."""

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
        self.alarms: list[cloudwatch.Alarm] = []
        notify = actions.SnsAction(self.topic)

        for folder, function in functions.items():
            self._alarm(
                f"{folder}Errors",
                function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
                f"{folder}: unhandled errors",
                notify,
            )
        for name, queue in queues.items():
            self._alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic=cloudwatch.Stats.MAXIMUM
                ),
                f"{name}: events that could not be delivered are waiting",
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

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, description: str, notify: actions.SnsAction
    ) -> None:
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=description,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(notify)
        self.alarms.append(alarm)
