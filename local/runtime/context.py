"""What the runtime's parts share: the resolved template, the function pool, the clock and moto clients."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from local.runtime.clock import VirtualClock
from local.runtime.wakeups import Wakeups


class FunctionError(Exception):
    """A function ended with an unhandled error or a timeout; `payload` is Lambda's error payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "function error"))
        self.payload = payload

    @property
    def error_type(self) -> str:
        return str(self.payload.get("errorType", ""))


class TemplateView(Protocol):
    """The resolved template: every resource with resolved Properties, and its physical names."""

    resources: dict[str, dict[str, Any]]

    def physical_id(self, logical_id: str) -> str: ...

    def arn(self, logical_id: str) -> str: ...

    def logical_id_for(self, arn_or_name: str) -> str | None: ...


class Functions(Protocol):
    """Invokes the template's AWS::Lambda::Function resources by logical id."""

    def invoke(self, logical_id: str, event: dict[str, Any], *, asynchronous: bool = False) -> Any: ...


@dataclass
class RuntimeContext:
    template: TemplateView
    functions: Functions
    clock: VirtualClock
    aws: Callable[[str], Any]
    moto_url: str
    log: logging.Logger
    # (table, ttl attribute, floor, horizon) -> [(keys, ttl value)] of the items due in that window, read
    # straight from moto's in-process backend (resources.Moto.ttl_candidates); None: the TTL sweeper scans.
    ttl_candidates: (
        Callable[[str, str, int, int], list[tuple[dict[str, Any], dict[str, Any]]] | None] | None
    ) = None
    # Pulsed by moto's middleware after writes (resources._AtomicDynamoDB); idle pollers wait on them.
    wakeups: Wakeups = field(default_factory=Wakeups)
