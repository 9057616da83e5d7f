"""WebSocket resume through the realtime function against the real table in moto and a stub @connections:
events committed with their sequences (dynamodb_events.transact_write), replayed after `after_sequence`,
live ones after, the seam's claims kept under the connection, and the history's wait for its index."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.realtime import handler as realtime
from shared.adapters import dynamodb_event_history
from shared.adapters.dynamodb_event_history import DynamoDBEventHistory
from shared.adapters.dynamodb_events import transact_write
from shared.adapters.dynamodb_table import put_new
from shared.outbox.records import DomainEvent, Resource, domain_event
from tests.integration import test_realtime_push as push
from tests.integration.test_realtime_handler import LambdaContext, connect, send
from tests.integration.test_realtime_push import StubConnections, bus_event, connection_items
from tests.integration.test_realtime_table import TABLE_NAME

# The push tests' table (moto) and @connections stub.
stub = push.stub
table = push.table

WALLET = "wal_resume"
CHANNEL = f"wallet:{WALLET}"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def put_wallet(table: Any) -> None:
    table.put_item(
        Item={
            "pk": f"WALLET#{WALLET}",
            "sk": "META",
            "tenant_id": "ten_a",
            "customer_id": "usr_customer",
            "invoice_id": "inv_resume",
            "status": "funded",
            "wallet_type": "ephemeral",
            "balance": "10.00",
            "currency": "USD",
            "expires_at": "2999-01-01T00:00:00.000Z",
        }
    )


def commit(table: Any, name: str) -> DomainEvent:
    event = domain_event(
        name,
        [CHANNEL, "admin"],
        {"tenant_id": "ten_a", "wallet_id": WALLET},
        NOW,
        resource=Resource("wallet", WALLET),
    )
    transact_write(boto3.client("dynamodb", region_name="us-east-1"), [put_new(TABLE_NAME, event)])
    return event


def publish(event: DomainEvent, sequence: int) -> dict[str, Any]:
    detail = bus_event(event.name, list(event.channels), event.data, event.id)
    detail["detail"] |= {"resource": {"type": "wallet", "id": WALLET}, "sequence": sequence}
    result: dict[str, Any] = realtime.lambda_handler(detail, LambdaContext())
    return result


def resume(connection_id: str, after: int) -> dict[str, Any]:
    return send(connection_id, "subscribe", action="subscribe", channel=CHANNEL, after_sequence=after)


def test_resume_replays_after_the_sequence_then_live_follows_once(table: Any, stub: StubConnections) -> None:
    put_wallet(table)
    events = [commit(table, name) for name in ("wallet:created", "wallet:funded", "payment:received")]
    connect("c1=", "usr_merchant", "ten_a", "merchant")

    reply = resume("c1=", 1)

    assert reply["event"] == "wallet:state"
    assert [(m["event"], m["sequence"]) for m in stub.to("c1=")] == [
        ("wallet:funded", 2),
        ("payment:received", 3),
    ]
    subscription = {i["sk"]: i for i in connection_items(table, "c1=")}[f"SUB#{CHANNEL}"]
    assert (subscription["live_after"], subscription["replay_through"]) == (3, 3)
    # A late live copy of a replayed event is left to the replay; a new event goes out live with its sequence.
    assert publish(events[2], 3)["delivered"] == 0
    fresh = commit(table, "payment:complete")
    assert publish(fresh, 4)["delivered"] == 1
    assert [m["sequence"] for m in stub.to("c1=")] == [2, 3, 4]


def test_the_seam_claims_live_under_the_connection_and_disconnect_removes_them(
    table: Any, stub: StubConnections
) -> None:
    put_wallet(table)
    commit(table, "wallet:created")
    connect("c2=", "usr_merchant", "ten_a", "merchant")
    resume("c2=", 0)
    # As if the replay had not finished: the fan-out of an event in the seam takes the claim and sends it.
    table.update_item(
        Key={"pk": "CONN#c2=", "sk": f"SUB#{CHANNEL}"},
        UpdateExpression="SET live_after = :zero REMOVE replay_through",
        ExpressionAttributeValues={":zero": 0},
    )
    seam = commit(table, "wallet:funded")
    assert publish(seam, 2)["delivered"] == 1
    assert publish(seam, 2)["delivered"] == 0  # a redelivery by another path loses the claim
    assert any(i["sk"] == f"SENT#{CHANNEL}#000000000002" for i in connection_items(table, "c2="))
    realtime.lambda_handler(
        {"requestContext": {"routeKey": "$disconnect", "connectionId": "c2="}}, LambdaContext()
    )
    assert connection_items(table, "c2=") == []


def test_resume_refusals_answer_on_the_socket(table: Any, stub: StubConnections) -> None:
    connect("c3=", "usr_admin", "ten_a", "admin")
    refused = send("c3=", "subscribe", action="subscribe", channel="admin", after_sequence=0)
    assert (refused["event"], refused["data"]["code"]) == ("error", "validation_error")
    assert [i["sk"] for i in connection_items(table, "c3=")] == ["META"]


def test_connections_are_filed_for_the_heartbeat(table: Any, stub: StubConnections) -> None:
    for n in range(6):
        connect(f"hb{n}=", "usr_merchant", "ten_a", "merchant")
    heard: set[str] = set()
    for minute in ("2026-03-01T12:00:00Z", "2026-03-01T12:01:00Z"):
        tick = {"detail-type": "Scheduled Event", "source": "aws.events", "time": minute, "detail": {}}
        realtime.lambda_handler(tick, LambdaContext())
    for connection_id, message in stub.received:
        assert message["event"] == "heartbeat" and message["channel"] is None
        heard.add(connection_id)
    assert heard == {f"hb{n}=" for n in range(6)}
    assert len(stub.received) == 6


def test_the_history_waits_for_its_index_to_show_every_owed_event(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("wallet:created", "wallet:funded", "payment:received"):
        commit(table, name)
    client = boto3.client("dynamodb", region_name="us-east-1")
    history = DynamoDBEventHistory(client, TABLE_NAME)
    assert history.latest_sequence("ten_a", "wallet", WALLET) == 3
    real_query = client.query
    calls: list[int] = []

    def lagging(**kwargs: Any) -> Any:
        # The index shows the newest event only from the third read on.
        answer = real_query(**kwargs)
        calls.append(1)
        if len(calls) < 3:
            answer["Items"] = [i for i in answer["Items"] if i["sequence"]["N"] != "3"]
        return answer

    monkeypatch.setattr(client, "query", lagging)
    monkeypatch.setattr(dynamodb_event_history, "INDEX_CATCH_UP", (0.0, 0.0, 0.0))
    assert [e.sequence for e in history.replay("ten_a", WALLET, 1, 3)] == [2, 3]
    assert len(calls) == 3
    assert json.loads(json.dumps([e.type for e in history.replay("ten_a", WALLET, 3, 3)])) == []
