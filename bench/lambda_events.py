"""Non-REST Lambda events as AWS delivers them: a DynamoDB stream batch, an EventBridge rule target event, an
SQS batch and a WebSocket route event (REST events come from tests/integration/conftest.py's `api_event`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bench.lambda_env import ACCOUNT, REGION

STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/WalletsTable/stream/2026-12-01T00:00:00.000"


def stream_event(images: list[Mapping[str, Any]], start_sequence: int = 1) -> dict[str, Any]:
    """One batch of INSERT records (NEW_AND_OLD_IMAGES) for items in the low-level `{"S": ...}` form."""
    records = []
    for offset, image in enumerate(images):
        sequence = start_sequence + offset
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "eventSourceARN": STREAM_ARN,
                "dynamodb": {
                    "ApproximateCreationDateTime": int(datetime.now(UTC).timestamp()),
                    "Keys": {"pk": image["pk"], "sk": image["sk"]},
                    "NewImage": dict(image),
                    "SequenceNumber": f"{sequence * 100:021d}",
                    "SizeBytes": len(json.dumps(image)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return {"Records": records}


def bus_event(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule hands its Lambda target for one PutEvents entry."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": list(entry.get("Resources", [])),
        "detail": json.loads(entry["Detail"]),
    }


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    """One SQS batch as an event source mapping hands it to the function."""
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:bench-queue"
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
                "SenderId": ACCOUNT,
                "ApproximateFirstReceiveTimestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        for body in bodies
    ]
    return {"Records": records}


def websocket_event(
    route: str, connection_id: str, body: str | None = None, authorizer: Mapping[str, str] | None = None
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "routeKey": route,
        "connectionId": connection_id,
        "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
        "stage": "prod",
        "domainName": f"wsapi.execute-api.{REGION}.amazonaws.com",
        "requestId": uuid.uuid4().hex,
        "apiId": "wsapi",
    }
    if authorizer:
        context["authorizer"] = {"principalId": authorizer.get("sub", ""), **authorizer}
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if body is not None:
        event["body"] = body
    return event
