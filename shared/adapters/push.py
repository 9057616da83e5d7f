"""The @connections adapter: posts server messages to WebSocket connections through API Gateway."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.realtime.ports import PushOutcome

logger = logging.getLogger(__name__)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_message(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=_json_default).encode("utf-8")


class ConnectionsPusher:
    """`client` is an `apigatewaymanagementapi` client whose endpoint is the stage's callback URL."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def push(self, connection_id: str, message: Mapping[str, Any]) -> PushOutcome:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=encode_message(message))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") == "GoneException" or status == 410:
                return PushOutcome.GONE
            logger.warning("push to %s failed: %s", connection_id, error.get("Code") or status)
            return PushOutcome.FAILED
        except BotoCoreError as exc:
            logger.warning("push to %s failed: %s", connection_id, type(exc).__name__)
            return PushOutcome.FAILED
        return PushOutcome.DELIVERED
