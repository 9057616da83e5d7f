"""Three moto 5.2 paths that a local runtime runs all the time, made cheaper with the same answers.

- Finding the backend of a request: moto's server asks, for every request and under its dispatcher's lock,
  `list_of_moto_modules()`, which lists moto's package folder and stat()s each of its ~180 entries, then
  tries its ~180 URL patterns in turn. That was most of an idle runtime's CPU (its pollers' requests) and
  most of a GetItem's time. moto's package does not change while it runs, so the module list is read once,
  and the backend found for a host (a pure function of the host) is remembered.
- DynamoDB Streams GetRecords: moto answers through its shape-driven serializer, which walks every attribute
  of every record image in Python; each stream mapping polls several times a second, and under load this was
  a sixth of the runtime process's CPU. The records moto keeps are DynamoDB JSON already: only their creation
  time needs the serializer's conversion (epoch seconds, millisecond precision). Records holding binary
  attributes still take moto's path, which base64-encodes them.
- EventBridge input templates: for each target of each matched rule, moto builds a new jsonpath parser (a PLY
  parser, about a millisecond) for each input path; the parsed paths, immutable, are cached.

Installed by the local runtime; production never imports this.
"""

from __future__ import annotations

import calendar
import functools
import json
from datetime import datetime
from typing import Any

import jsonpath_ng.ext
import moto.backends
from moto.core.responses import ActionResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_moto_get_records = DynamoDBStreamsHandler.get_records
_moto_jsonpath = jsonpath_ng.ext.parse
_JSON = {"Content-Type": "application/x-amz-json-1.0"}
_BINARY = ('"B": ', '"BS": ')
_moto_backend_for_host = DomainDispatcherApplication.get_backend_for_host
# Hosts come from requests (a signature's service and region), so the remembered answers are bounded.
MAX_HOSTS = 256


def install() -> None:
    """Replace moto's implementations (idempotent)."""
    if getattr(DynamoDBStreamsHandler.get_records, "_plain_json", False):
        return
    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(_moto_jsonpath)
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    DomainDispatcherApplication.get_backend_for_host = backend_for_host  # type: ignore[method-assign]


def backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    """moto's answer for `host`, asked once per host (moto calls this under its dispatcher's lock)."""
    if host is None:
        return None
    known: dict[str, Any] = self.__dict__.setdefault("_backend_by_host", {})
    if host not in known:
        if len(known) >= MAX_HOSTS:
            known.clear()
        known[host] = _moto_backend_for_host(self, host)
    return known[host]


def get_records(self: DynamoDBStreamsHandler) -> Any:
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    try:
        body = json.dumps(result, default=_epoch_seconds)
    except TypeError:  # bytes of a binary attribute
        return ActionResult(result)
    if any(marker in body for marker in _BINARY):
        return ActionResult(result)
    return body, dict(_JSON)


get_records._plain_json = True  # type: ignore[attr-defined]


def _epoch_seconds(value: Any) -> int | float:
    """As moto serializes JSON-protocol timestamps (`_timestamp_unixtimestamp`), for naive UTC datetimes."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    seconds = calendar.timegm(value.timetuple())
    if value.microsecond:
        return seconds + (value.microsecond // 1000) / 1000.0
    return seconds
