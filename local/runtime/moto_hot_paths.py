"""Two moto 5.2 paths that a local runtime under load runs all the time, made cheaper with the same answers.

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
from moto.core.responses import ActionResult
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

_moto_get_records = DynamoDBStreamsHandler.get_records
_moto_jsonpath = jsonpath_ng.ext.parse
_JSON = {"Content-Type": "application/x-amz-json-1.0"}
_BINARY = ('"B": ', '"BS": ')


def install() -> None:
    """Replace moto's implementations (idempotent)."""
    if getattr(DynamoDBStreamsHandler.get_records, "_plain_json", False):
        return
    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(_moto_jsonpath)


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
