"""The realtime function's WebSocket routes against the real table definition in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key
from moto import mock_aws

from functions.realtime import handler as realtime
from shared import bootstrap
from shared.adapters.connections import DynamoConnectionStore
from shared.adapters.connections_snapshots import DynamoWalletSnapshots
from shared.adapters.dynamodb_invoices import invoice_item
from shared.config import get_settings
from shared.models.invoice import Invoice, InvoiceLine, InvoiceStatus
from shared.realtime.ports import SubscribeOutcome, Subscriber, Viewer
from tests.integration.test_realtime_table import TABLE_NAME, create_wallets_table


@dataclass
class LambdaContext:
    function_name: str = "realtime"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:realtime"
    aws_request_id: str = "req-1"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("WS_CALLBACK_URL", "https://example.execute-api.us-east-1.amazonaws.com/prod")
    get_settings.cache_clear()
    bootstrap.reset()
    with mock_aws():
        yield create_wallets_table()
    get_settings.cache_clear()
    bootstrap.reset()


def ws_event(route: str, connection_id: str, body: str | None = None, **authorizer: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "routeKey": route,
        "connectionId": connection_id,
        "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
        "stage": "prod",
        "domainName": "example.execute-api.us-east-1.amazonaws.com",
        "requestId": "r1",
        "apiId": "example",
    }
    if authorizer:
        context["authorizer"] = {"principalId": authorizer.get("sub", ""), **authorizer}
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if body is not None:
        event["body"] = body
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = realtime.lambda_handler(event, LambdaContext())
    return result


def connect(connection_id: str, sub: str, tenant: str, roles: str) -> None:
    result = invoke(ws_event("$connect", connection_id, sub=sub, tenant_id=tenant, roles=roles))
    assert result == {"statusCode": 200}


def send(connection_id: str, route: str, **message: Any) -> dict[str, Any]:
    result = invoke(ws_event(route, connection_id, json.dumps(message)))
    assert result["statusCode"] == 200
    reply: dict[str, Any] = json.loads(result["body"])
    assert set(reply) == {"event", "channel", "data", "ts"}
    return reply


def items_of(table: Any, connection_id: str) -> dict[str, dict[str, Any]]:
    page = table.query(KeyConditionExpression=Key("pk").eq(f"CONN#{connection_id}"))
    return {item["sk"]: item for item in page["Items"]}


def put_invoice(table: Any, tenant: str, invoice_id: str, customer: str, deleted: bool = False) -> Invoice:
    """An invoice stored exactly as the invoices repository stores it."""
    line = InvoiceLine(
        description="Consulting",
        quantity=1,
        unit_price=Decimal("100.00"),
        tax_rate=Decimal("20.5"),
        amount=Decimal("100.00"),
        tax_amount=Decimal("20.50"),
    )
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    invoice = Invoice(
        id=invoice_id,
        number="INV-00001",
        tenant_id=tenant,
        customer_id=customer,
        currency="USD",
        status=InvoiceStatus.SENT,
        line_items=[line],
        subtotal=Decimal("100.00"),
        tax_amount=Decimal("20.50"),
        total_amount=Decimal("120.50"),
        due_date=date(2026, 4, 1),
        created_by="usr_merchant",
        created_at=moment,
        updated_at=moment,
        deleted_at=moment if deleted else None,
    )
    table.put_item(Item=invoice_item(invoice))
    return invoice


def test_connect_stores_the_connection_for_two_hours(table: Any) -> None:
    before = int(datetime.now(UTC).timestamp())
    connect("c1=", "usr_merchant", "ten_a", "merchant,admin")
    meta = items_of(table, "c1=")["META"]
    assert (meta["sub"], meta["tenant_id"], meta["roles"]) == ("usr_merchant", "ten_a", "admin,merchant")
    assert before + 7200 <= int(meta["ttl"]) <= before + 7200 + 60
    assert meta["connected_at"].endswith("Z")


def test_connect_without_authorizer_identity_is_refused(table: Any) -> None:
    assert invoke(ws_event("$connect", "c1")) == {"statusCode": 403}
    assert items_of(table, "c1") == {}


def test_subscribe_invoice_answers_with_its_public_state(table: Any) -> None:
    invoice = put_invoice(table, "ten_a", "inv_abc", "usr_customer")
    connect("c1", "usr_customer", "ten_a", "consumer")
    reply = send("c1", "subscribe", action="subscribe", channel="invoice:inv_abc")
    assert reply["event"] == "invoice:state" and reply["channel"] == "invoice:inv_abc"
    assert reply["data"] == invoice.to_api()
    assert (reply["data"]["total_amount"], reply["data"]["amount_due"]) == ("120.50", "120.50")
    sub = items_of(table, "c1")["SUB#invoice:inv_abc"]
    assert (sub["gsi1pk"], sub["gsi1sk"]) == ("CHANNEL#invoice:inv_abc", "CONN#c1")
    assert "gsi2pk" not in sub
    assert items_of(table, "c1")["META"]["sub_count"] == 1


def test_deleted_or_foreign_invoices_are_not_found(table: Any) -> None:
    put_invoice(table, "ten_a", "inv_gone", "usr_customer", deleted=True)
    put_invoice(table, "ten_a", "inv_mine", "usr_customer")
    connect("c1", "usr_customer", "ten_a", "consumer")
    connect("c2", "usr_other", "ten_b", "merchant")
    for conn, channel in (("c1", "invoice:inv_gone"), ("c2", "invoice:inv_mine")):
        assert send(conn, "subscribe", action="subscribe", channel=channel)["data"]["code"] == "not_found"
    assert [sk for sk in items_of(table, "c1") if sk.startswith("SUB#")] == []


def test_wallet_channels_without_a_wallet_are_not_found(table: Any) -> None:
    connect("c1", "usr_merchant", "ten_a", "merchant")
    reply = send("c1", "subscribe", action="subscribe", channel="countdown:wal_nope")
    assert reply["event"] == "error" and reply["channel"] == "countdown:wal_nope"
    assert reply["data"]["code"] == "not_found"


def test_countdown_subscription_is_indexed_for_the_tick(table: Any) -> None:
    table.put_item(
        Item={
            "pk": "WALLET#wal_abc",
            "sk": "META",
            "tenant_id": "ten_a",
            "customer_id": "usr_customer",
            "invoice_id": "inv_abc",
            "status": "active",
            "wallet_type": "ephemeral",
            "balance": "0.00",
            "currency": "USD",
            "expires_at": "2999-01-01T00:00:00.000Z",
        }
    )
    connect("c1", "usr_customer", "ten_a", "consumer")
    reply = send("c1", "subscribe", action="subscribe", channel="countdown:wal_abc")
    assert reply["event"] == "countdown:update"
    assert reply["data"]["walletId"] == "wal_abc" and reply["data"]["remaining_seconds"] > 0
    sub = items_of(table, "c1")["SUB#countdown:wal_abc"]
    assert (sub["gsi2pk"], sub["gsi2sk"]) == ("COUNTDOWNS", "countdown:wal_abc#c1")
    store = DynamoConnectionStore(table)
    assert list(store.countdown_channels()) == ["countdown:wal_abc"]


def test_admin_channel_needs_admin(table: Any) -> None:
    connect("c1", "usr_merchant", "ten_a", "merchant")
    connect("c2", "usr_admin", "ten_a", "admin")
    assert send("c1", "subscribe", action="subscribe", channel="admin")["data"]["code"] == "forbidden"
    assert send("c2", "subscribe", action="subscribe", channel="admin")["event"] == "subscribed"


def test_ping_and_bad_messages(table: Any) -> None:
    connect("c1", "usr_merchant", "ten_a", "merchant")
    assert send("c1", "ping", action="ping")["event"] == "pong"
    result = invoke(ws_event("$default", "c1", "{not json"))
    assert json.loads(result["body"])["data"]["code"] == "validation_error"
    assert send("c1", "$default", action="shout")["data"]["code"] == "validation_error"


def test_unsubscribe_and_disconnect_remove_everything(table: Any) -> None:
    put_invoice(table, "ten_a", "inv_abc", "usr_customer")
    connect("c1", "usr_merchant", "ten_a", "merchant,admin")
    send("c1", "subscribe", action="subscribe", channel="invoice:inv_abc")
    send("c1", "subscribe", action="subscribe", channel="admin")
    reply = send("c1", "unsubscribe", action="unsubscribe", channel="admin")
    assert reply["event"] == "unsubscribed" and reply["data"] == {"removed": True}
    assert set(items_of(table, "c1")) == {"META", "SUB#invoice:inv_abc"}
    assert items_of(table, "c1")["META"]["sub_count"] == 1
    assert invoke(ws_event("$disconnect", "c1")) == {"statusCode": 200}
    assert items_of(table, "c1") == {}


def test_subscription_limit_holds_in_the_table(table: Any) -> None:
    store = DynamoConnectionStore(table)
    connect("c1", "usr_merchant", "ten_a", "merchant")
    viewer = Viewer("usr_merchant", "ten_a", frozenset({"merchant"}))
    expires = datetime(2999, 1, 1, tzinfo=UTC)
    subscriber = Subscriber("c1", viewer)
    outcomes = [store.add_subscription(subscriber, f"invoice:inv_{n}", False, 3, expires) for n in range(4)]
    assert outcomes == [SubscribeOutcome.ADDED] * 3 + [SubscribeOutcome.LIMIT_REACHED]
    again = store.add_subscription(Subscriber("c1", viewer), "invoice:inv_0", False, 3, expires)
    assert again is SubscribeOutcome.ALREADY_SUBSCRIBED
    ghost = store.add_subscription(Subscriber("ghost", viewer), "invoice:inv_0", False, 3, expires)
    assert ghost is SubscribeOutcome.NO_CONNECTION
    assert items_of(table, "ghost") == {}
    assert items_of(table, "c1")["META"]["sub_count"] == 3
    assert store.remove_subscription("c1", "invoice:inv_1") is True
    assert store.remove_subscription("c1", "invoice:inv_1") is False
    assert store.add_subscription(Subscriber("c1", viewer), "invoice:inv_9", False, 3, expires) is (
        SubscribeOutcome.ADDED
    )


def test_wallet_snapshots_apply_visibility_and_read_epoch_expiry(table: Any) -> None:
    table.put_item(
        Item={
            "pk": "WALLET#wal_epoch",
            "sk": "META",
            "tenant_id": "ten_a",
            "customer_id": "usr_customer",
            "invoice_id": "inv_abc",
            "status": "active",
            "wallet_type": "ephemeral",
            "balance": Decimal("12.5"),
            "currency": "USD",
            "expires_at": Decimal(1_900_000_000),
        }
    )
    wallets = DynamoWalletSnapshots(table)
    customer = Viewer("usr_customer", "ten_a", frozenset({"consumer"}))
    snapshot = wallets.get("wal_epoch", customer)
    assert snapshot is not None
    assert (snapshot.balance, snapshot.expires_at) == ("12.50", datetime.fromtimestamp(1_900_000_000, tz=UTC))
    assert wallets.get("wal_epoch", Viewer("usr_customer", "ten_b", frozenset({"merchant"}))) is None
    assert wallets.get("wal_epoch", Viewer("usr_someone", "ten_a", frozenset({"consumer"}))) is None
    assert wallets.get("wal_epoch", Viewer("lnk_x", "ten_a", frozenset({"consumer"}), "inv_abc")) is not None
    assert wallets.get("wal_epoch", None) == snapshot
    assert wallets.get("wal_missing", None) is None
