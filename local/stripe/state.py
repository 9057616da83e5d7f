"""The stand-in's in-memory account: objects by id, events, idempotency records, optional JSON persistence."""

from __future__ import annotations

import copy
import json
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.stripe import params as p
from local.stripe.errors import invalid_request

API_VERSION = "2026-10-28.endive"
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
_ALPHABET = string.ascii_letters + string.digits

EventListener = Callable[[dict[str, Any]], None]


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class RequestContext:
    """Who asked and how: the API key, Stripe's request id and the idempotency key (for events)."""

    api_key: str
    request_id: str
    idempotency_key: str | None = None
    # Where this stand-in answers (for URLs it hands out, such as a VerificationSession's hosted page).
    base_url: str = ""
    # The connected account a platform acts for (the `Stripe-Account` header), if any.
    account: str | None = None


@dataclass
class IdempotencyRecord:
    method: str
    path: str
    fingerprint: str
    created: float
    status: int | None = None
    body: dict[str, Any] | None = None
    request_id: str = ""
    in_flight: bool = True


@dataclass
class Store:
    """Every object of the fake account; one re-entrant lock guards all of it."""

    clock: Callable[[], float] = time.time
    state_file: Path | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    listeners: list[EventListener] = field(default_factory=list)

    def now(self) -> int:
        return int(self.clock())

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.objects[obj["id"]] = obj
            return obj

    def get(self, object_id: str, kind: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get(object_id)
            return obj if obj is not None and obj["object"] == kind else None

    def find(self, kind: str, **filters: Any) -> list[dict[str, Any]]:
        """Objects of `kind` matching every filter, newest first."""
        with self.lock:
            found = [
                obj
                for obj in self.objects.values()
                if obj["object"] == kind and all(obj.get(k) == v for k, v in filters.items() if v is not None)
            ]
        found.reverse()
        return found

    def page(self, items: list[dict[str, Any]], query: dict[str, Any], url: str) -> dict[str, Any]:
        """A Stripe list object over `items` (newest first) honouring limit/starting_after/ending_before."""
        limit = p.integer(query.get("limit", "10"), "limit", minimum=1)
        if limit > 100:
            raise invalid_request("This value must be less than or equal to 100.", param="limit")
        ids = [item["id"] for item in items]
        start, end = 0, len(items)
        if query.get("starting_after"):
            if query["starting_after"] not in ids:
                raise invalid_request(
                    f"No such object: '{query['starting_after']}'",
                    param="starting_after",
                    code="resource_missing",
                )
            start = ids.index(query["starting_after"]) + 1
        elif query.get("ending_before"):
            if query["ending_before"] not in ids:
                raise invalid_request(
                    f"No such object: '{query['ending_before']}'",
                    param="ending_before",
                    code="resource_missing",
                )
            end = ids.index(query["ending_before"])
            start = max(0, end - limit)
        window = items[start:end]
        data = window[:limit]
        return {
            "object": "list",
            "url": url,
            "has_more": len(window) > limit or (bool(query.get("ending_before")) and start > 0),
            "data": [self.render(item) for item in data],
        }

    def render(self, obj: dict[str, Any], expand: list[str] | None = None) -> dict[str, Any]:
        """A deep copy for the wire, with `expand` paths replaced by the objects they name."""
        with self.lock:
            out = copy.deepcopy(obj)
            for path in expand or []:
                self._expand(out, path.split("."), path)
            return out

    def _expand(self, node: dict[str, Any], parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        value = node.get(head)
        if isinstance(value, str) and value in self.objects:
            node[head] = value = copy.deepcopy(self.objects[value])
        elif not isinstance(value, dict):
            raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
        if rest:
            self._expand(value, rest, path)

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        ctx: RequestContext | None,
        previous_attributes: dict[str, Any] | None = None,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Record an event for a state change and hand it to every listener (webhook delivery); a Connect
        event names the connected `account` it happened on."""
        data: dict[str, Any] = {"object": self.render(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(self.listeners),
            "request": {
                "id": ctx.request_id if ctx else None,
                "idempotency_key": ctx.idempotency_key if ctx else None,
            },
            "type": event_type,
        }
        if account is not None:
            event["account"] = account
        with self.lock:
            self.add(event)
            for listener in self.listeners:
                listener(copy.deepcopy(event))
        return event

    def reset(self) -> None:
        with self.lock:
            self.objects.clear()
            self.idempotency.clear()
            self.save()

    def prune_idempotency(self) -> None:
        cutoff = self.clock() - IDEMPOTENCY_WINDOW_SECONDS
        with self.lock:
            for key in [k for k, record in self.idempotency.items() if record.created < cutoff]:
                del self.idempotency[key]

    def save(self) -> None:
        """Write the account to `state_file` (atomically) so a restart keeps it; no-op without one."""
        if self.state_file is None:
            return
        with self.lock:
            snapshot = {
                "objects": list(self.objects.values()),
                "idempotency": [
                    {"api_key": key[0], "key": key[1], **record.__dict__}
                    for key, record in self.idempotency.items()
                    if not record.in_flight
                ],
            }
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(json.dumps(snapshot))
            os.replace(tmp, self.state_file)

    def load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        snapshot = json.loads(self.state_file.read_text())
        with self.lock:
            self.objects = {obj["id"]: obj for obj in snapshot["objects"]}
            self.idempotency = {}
            for item in snapshot["idempotency"]:
                key = (item.pop("api_key"), item.pop("key"))
                self.idempotency[key] = IdempotencyRecord(**item)
