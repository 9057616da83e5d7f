"""SQS event source mappings: poll a template queue in moto and invoke its function as Lambda's SQS poller
does (batches of up to BatchSize, partial batch responses, a failed message visible again shortly)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from local.runtime.context import FunctionError, RuntimeContext

# Idle, a poller waits for a send to reach moto (wakeups.py); this is only the fallback.
IDLE_POLL = 2.0
# A failed message comes back after this many real seconds (Lambda waits out the visibility timeout; the
# runtime retries sooner so demos and tests see the outcome).
RETRY_AFTER_SECONDS = 1
# Once a failed message is due back, the poller looks for it at this pace (no write announces it) for
# RETRY_GRACE seconds.
POLL_INTERVAL = 0.1
RETRY_GRACE = 1.0


def is_queue_mapping(ctx: RuntimeContext, properties: dict[str, Any]) -> bool:
    source = ctx.template.logical_id_for(str(properties.get("EventSourceArn", "")))
    return source is not None and ctx.template.resources[source]["Type"] == "AWS::SQS::Queue"


class SqsPoller:
    """One thread per SQS mapping."""

    def __init__(self, ctx: RuntimeContext, logical_id: str, properties: dict[str, Any]) -> None:
        self.ctx = ctx
        self.logical_id = logical_id
        function = ctx.template.logical_id_for(str(properties["FunctionName"]))
        queue = ctx.template.logical_id_for(str(properties["EventSourceArn"]))
        if function is None or queue is None:
            raise ValueError(f"{logical_id}: its function or queue is not in the template")
        self.function = function
        self.queue_arn = str(properties["EventSourceArn"])
        self.queue_url = ctx.template.physical_id(queue)
        self.batch_size = max(1, min(10, int(properties.get("BatchSize", 10))))
        self.partial = "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or [])
        self.enabled = str(properties.get("Enabled", True)).lower() != "false"
        self.sqs = ctx.aws("sqs")
        self.counts = {"received": 0, "invocations": 0, "deleted": 0, "failed": 0, "errors": 0}
        self.wakeup = ctx.wakeups.sqs
        # When (monotonic) each failed message becomes visible again, oldest first (one delay for all).
        self._retries: deque[float] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{logical_id}", daemon=True)

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.pulse()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        return {"function": self.function, "queue": self.queue_url, "enabled": self.enabled, **self.counts}

    def _run(self) -> None:
        while not self._stop.is_set():
            # Read before polling: a message sent during the poll then ends the wait below at once.
            seen = self.wakeup.count
            try:
                busy = self._poll()
            except Exception:
                self.ctx.log.exception("sqs mapping %s: poll failed", self.logical_id)
                busy = False
            if not busy:
                self.wakeup.wait(seen, self._idle_wait())

    def _idle_wait(self) -> float:
        """The fallback, or until a failed message is visible again (nothing is sent to announce it)."""
        now = time.monotonic()
        while self._retries and self._retries[0] <= now - RETRY_GRACE:
            self._retries.popleft()
        if not self._retries:
            return IDLE_POLL
        until = self._retries[0] - now
        return min(IDLE_POLL, until) if until > 0 else POLL_INTERVAL

    def _poll(self) -> bool:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return False
        self.counts["received"] += len(messages)
        failed = self._invoke(messages)
        for message in messages:
            if message["MessageId"] in failed:
                self.counts["failed"] += 1
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_AFTER_SECONDS,
                )
                self._retries.append(time.monotonic() + RETRY_AFTER_SECONDS)
            else:
                self.counts["deleted"] += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return True

    def _invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """The ids of the messages that failed (all of them when the function itself failed)."""
        everyone = {m["MessageId"] for m in messages}
        event = {"Records": [self._record(m) for m in messages]}
        self.counts["invocations"] += 1
        try:
            response = self.ctx.functions.invoke(self.function, event)
        except FunctionError as error:
            self.ctx.log.warning("sqs mapping %s: function failed: %s", self.logical_id, error)
            self.counts["errors"] += 1
            return everyone
        if not self.partial or not isinstance(response, dict):
            return set()
        failures = response.get("batchItemFailures") or []
        ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
        # An identifier that names no message of the batch fails the whole batch, as Lambda reads it.
        return everyone if not ids <= everyone else {i for i in ids if isinstance(i, str)}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        region = self.sqs.meta.region_name
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": region,
        }
