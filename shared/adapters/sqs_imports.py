"""The import queue on SQS: one small message per batch (the batch itself waits in the table)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import DependencyUnavailable

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})


def sqs_client(region: str) -> Any:
    return boto3.client("sqs", region_name=region, config=CLIENT_CONFIG)


class SqsImportQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, tenant_id: str, import_id: str, batches: list[int]) -> None:
        for start in range(0, len(batches), 10):
            entries = [
                {
                    "Id": str(number),
                    "MessageBody": json.dumps(
                        {"tenant_id": tenant_id, "import_id": import_id, "batch": number}
                    ),
                }
                for number in batches[start : start + 10]
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise DependencyUnavailable("the import queue is unavailable; retry") from exc
            if response.get("Failed"):
                raise DependencyUnavailable("the import queue refused some batches; retry")
