"""Wake-on-write for the runtime's pollers: moto's middleware pulses a kind of work once a write lands.

The pollers (stream mappings, SQS mappings, the EventBridge rule bridge, the Scheduler poller) used to ask
moto every 0.1-0.2 s whether anything had happened, which kept an idle runtime busy. Every write they
could be waiting for reaches moto through the runtime's own WSGI middleware (resources._AtomicDynamoDB),
so the middleware pulses the matching Wakeup after the request completes and each poller, idle, waits on
its Wakeup with a long fallback instead. What only the passage of time changes (a batching window, a
retried message becoming visible, a schedule falling due) each poller still computes and waits for itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# DynamoDB operations that change nothing (anything else counts as a write: waking for nothing is cheap,
# missing a write would delay a stream record by the fallback).
_DYNAMODB_READS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")
# SQS operations after which a message can be received: sent, or its visibility changed (to 0, or later).
_SQS_WRITES = ("SendMessage", "ChangeMessageVisibility")


class Wakeup:
    """A counter of pulses that idle pollers wait on.

    A poller reads `count` before it polls and then waits for the count to move past it: a pulse that lands
    while it polls ends its wait at once instead of being lost (a bare Condition would drop it and the
    record would wait out the whole fallback).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def pulse(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Up to `timeout` seconds for a pulse after `seen` (a `count` read earlier); whether one came."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count != seen, timeout)


@dataclass
class Wakeups:
    """One Wakeup per kind of write a poller waits for."""

    dynamodb: Wakeup = field(default_factory=Wakeup)
    sqs: Wakeup = field(default_factory=Wakeup)
    events: Wakeup = field(default_factory=Wakeup)
    scheduler: Wakeup = field(default_factory=Wakeup)

    def written(self, environ: dict[str, Any]) -> list[Wakeup]:
        """The Wakeups a request (a WSGI environ) must pulse once it has completed: none for a read."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            prefix, _, operation = target.partition(".")
            if prefix.startswith("DynamoDB_"):
                return [] if operation.startswith(_DYNAMODB_READS) else [self.dynamodb]
            if prefix == "AmazonSQS":
                return [self.sqs] if operation.startswith(_SQS_WRITES) else []
            if prefix == "AWSEvents" and operation == "PutEvents":
                # moto delivers matched events to SQS targets within the call: rule bridges and queues.
                return [self.events, self.sqs]
            return []
        # The rest-json and query protocols carry no target; the signature's scope names the service.
        service = _signed_service(environ.get("HTTP_AUTHORIZATION", ""))
        if service == "scheduler":
            # Create, Update and Delete (and groups' deletion) are the only non-GET Scheduler calls.
            return [] if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else [self.scheduler]
        if service in ("sqs", "sns"):
            # SQS in the query protocol names its action only in the body; an SNS publish can deliver to a
            # queue. Neither is on a poller's path, so waking for every such request costs nothing idle.
            return [self.sqs]
        return []


def _signed_service(authorization: str) -> str:
    """The service of a SigV4 `Authorization` header (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`)."""
    start = authorization.find("Credential=")
    if start < 0:
        return ""
    scope = authorization[start + len("Credential=") :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) == 5 else ""
