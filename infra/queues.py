"""Dead-letter and on-failure queues: encrypted, TLS-only, kept 14 days for replay."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    # SQS-managed SSE rather than the stack key: EventBridge, Scheduler and Lambda can all write to it
    # without a key policy grant per service principal.
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
