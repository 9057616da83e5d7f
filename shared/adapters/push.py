"""The @connections adapter: posts server messages to WebSocket connections through API Gateway."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.config import Settings
from shared.realtime.ports import PushOutcome

logger = logging.getLogger(__name__)

# A push is one small POST; a slow endpoint must not stall the fan-out to everyone else.
PUSH_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})


def management_client(settings: Settings) -> Any:
    """The @connections client of the stage's callback URL."""
    import boto3  # on first use: the stream and realtime functions' imports stay light

    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=settings.ws_callback_url or None,
        region_name=settings.aws_region,
        config=PUSH_CONFIG,
    )


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
