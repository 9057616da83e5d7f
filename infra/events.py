"""Event routing: the bus, Scheduler's group and role, scheduled rules and the table's stream mappings."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import Functions
from infra.queues import dead_letter_queue

EVENT_SOURCE = "monay.wallets"

OUTBOX_FILTER = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}},
}
# The events that start or continue a payout's run (shared/payouts/service.py RUN_EVENTS; a test holds them
# equal).
PAYOUT_RUN_EVENTS = ("payout.approved", "payout.retrying", "payout.continued")
# Only deletions made by DynamoDB's TTL process: a user's DeleteItem has no userIdentity at all.
LEASE_EXPIRY_FILTER = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "LEASE#"}]}}},
}


class Events(Construct):
    """`EventBus`, `ScheduleGroup`, `SchedulerRole` (may only invoke `destroy`), rules and stream mappings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Functions,
        table: dynamodb.ITable,
        key: kms.IKey,
    ):
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.key = key
        # EventBridge delivers a rule's failed events to its DLQ as the service itself, not with a role.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToUseKeyForDeadLetterQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )

        self.bus = events.EventBus(self, "EventBus")
        self.schedule_group = scheduler.ScheduleGroup(self, "ScheduleGroup")
        destroy = functions["destroy"]

        self.schedule_dlq = self._dlq("ScheduleDlq")
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description="Assumed by EventBridge Scheduler: wallet destruction at expiry, webhook retries",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": self.schedule_group.schedule_group_arn},
                },
            ),
        )
        destroy.grant_invoke(self.scheduler_role)
        # Webhook retry timers run the webhook_delivery function (its own schedules, in the same group).
        functions["webhook_delivery"].grant_invoke(self.scheduler_role)
        # A scheduled payout's timer runs payout_worker (made by the payouts function at its approval).
        functions["payout_worker"].grant_invoke(self.scheduler_role)
        functions["payouts"].add_environment(
            "PAYOUT_WORKER_FUNCTION_ARN", functions["payout_worker"].function_arn
        )
        self.schedule_dlq.grant_send_messages(self.scheduler_role)

        # Schedules are created at run time (one per wallet): these functions manage them in the group only.
        schedules_arn = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.schedule_group.schedule_group_name}/*",
        )
        for function in functions.with_spec("scheduler"):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
                    resources=[schedules_arn],
                )
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.scheduler_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
                )
            )
            function.add_environment("SCHEDULE_GROUP_NAME", self.schedule_group.schedule_group_name)
            function.add_environment("SCHEDULER_ROLE_ARN", self.scheduler_role.role_arn)
            function.add_environment("SCHEDULER_DLQ_ARN", self.schedule_dlq.queue_arn)
            if function is not destroy:
                # destroy knows its own ARN from its context; referencing it in its own env is a cycle.
                function.add_environment("DESTROY_FUNCTION_ARN", destroy.function_arn)

        for function in functions.with_spec("publishes_events"):
            self.bus.grant_put_events_to(function)
            function.add_environment("EVENT_BUS_NAME", self.bus.event_bus_name)

        self._rule(
            "ReconcileDaily",
            schedule=events.Schedule.cron(minute="0", hour="2"),
            function=functions["reconcile"],
            description="Daily reserve reconciliation at 02:00 UTC",
        )
        self._rule(
            "ProviderHealthCheck",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            function=functions["providers"],
            description="Stablecoin provider health checks",
        )
        self._rule(
            "ClaimSweep",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            function=functions["sweeper"],
            description="Open claims past their deadline finished or reversed",
        )
        self._rule(
            "InvoiceSchedules",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            function=functions["invoice_schedules"],
            description="Invoices past their due date marked overdue",
        )
        self._rule(
            "CountdownTick",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            function=functions["realtime"],
            description="Countdown updates and heartbeats (one bucket of connections) every minute",
        )
        self._rule(
            "DomainEventsToRealtime",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            event_bus=self.bus,
            function=functions["realtime"],
            description="Domain events fanned out to WebSocket subscribers",
        )

        self._rule(
            "DomainEventsToWebhooks",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            event_bus=self.bus,
            function=functions["webhook_delivery"],
            description="Domain events fanned out to merchants' webhook endpoints",
        )

        self._rule(
            "PayoutRuns",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE], detail_type=list(PAYOUT_RUN_EVENTS)),
            event_bus=self.bus,
            function=functions["payout_worker"],
            description="Approved and retried payouts run in the background",
            # Runs that kept failing wait beside the scheduled payouts' failed timers, in one queue.
            dead_letter_queue=self.schedule_dlq,
        )

        self._stream_mapping(
            "OutboxStream", functions["stream"], table, OUTBOX_FILTER, batch_size=100, retry_attempts=10
        )
        self._stream_mapping(
            "LeaseExpiryStream", destroy, table, LEASE_EXPIRY_FILTER, batch_size=10, retry_attempts=10
        )
        self.import_queue = self._import_queue(functions)

    def _import_queue(self, functions: Functions) -> sqs.Queue:
        """Invoice import batches: queued by `invoice_batches`, worked by `invoice_imports`, a message that
        keeps failing parked in its dead-letter queue after five receives."""
        worker = functions["invoice_imports"]
        queue = sqs.Queue(
            self,
            "ImportQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            # Six times the worker's timeout, as Lambda advises for an SQS event source.
            visibility_timeout=Duration.seconds(6 * 60),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self._dlq("ImportQueueDlq")),
        )
        worker.add_event_source(
            sources.SqsEventSource(queue, batch_size=5, report_batch_item_failures=True, max_concurrency=5)
        )
        sender = functions["invoice_batches"]
        queue.grant_send_messages(sender)
        sender.add_environment("IMPORT_QUEUE_URL", queue.queue_url)
        return queue

    def _dlq(self, construct_id: str) -> sqs.Queue:
        queue = dead_letter_queue(self, construct_id, self.key)
        self.dead_letter_queues[construct_id] = queue
        return queue

    def _rule(
        self,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        description: str,
        schedule: events.Schedule | None = None,
        event_pattern: events.EventPattern | None = None,
        event_bus: events.IEventBus | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> events.Rule:
        return events.Rule(
            self,
            construct_id,
            description=description,
            schedule=schedule,
            event_pattern=event_pattern,
            event_bus=event_bus,
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=dead_letter_queue or self._dlq(f"{construct_id}Dlq"),
                    retry_attempts=3,
                    max_event_age=Duration.hours(1),
                )
            ],
        )

    def _stream_mapping(
        self,
        construct_id: str,
        function: lambda_.Function,
        table: dynamodb.ITable,
        pattern: dict[str, object],
        *,
        batch_size: int,
        retry_attempts: int,
    ) -> None:
        on_failure = self._dlq(f"{construct_id}Failures")
        function.add_event_source(
            sources.DynamoEventSource(
                table,
                # TRIM_HORIZON: records written while a mapping is (re)created are still delivered.
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=batch_size,
                max_batching_window=Duration.seconds(1),
                report_batch_item_failures=True,
                bisect_batch_on_error=True,
                retry_attempts=retry_attempts,
                # Shorter than the stream's 24 h retention so a stuck record reaches the queue, not oblivion.
                max_record_age=Duration.hours(6),
                on_failure=sources.SqsDlq(on_failure),
                filters=[lambda_.FilterCriteria.filter(pattern)],
            )
        )
