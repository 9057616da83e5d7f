"""Dead-letter and on-failure queues: encrypted with the stack key, TLS-only, kept 14 days for replay."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def dead_letter_queue(scope: Construct, construct_id: str, key: kms.IKey) -> sqs.Queue:
    # The stack key rather than SQS-managed SSE: its use is logged and revocable. Lambda and Scheduler send
    # with their roles (CDK's send grants add the key); EventBridge needs the key policy (infra/events.py).
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
