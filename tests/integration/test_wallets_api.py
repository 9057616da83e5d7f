"""The create_wallet function on moto (table, KMS, Scheduler) and the Stripe stand-in, through v1 events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest

from local.stripe.serving import BackgroundStandIn
from shared import bootstrap
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_wallets import DynamoDBWalletRepository
from shared.adapters.kms_keys import KmsDataKeys
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.checkout.links import PaymentLinks
from shared.clock import FixedClock
from shared.config import Settings
from shared.crypto.envelope import KeyMaterialErased
from shared.invoices.service import InvoiceService
from shared.models.invoice import InvoiceCreate, LineItemInput
from shared.wallets.keys import WalletKeyVault
from tests.integration.conftest import (
    ADMIN,
    CONSUMER,
    KEY_TABLE,
    MERCHANT,
    OTHER_MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
    set_tenant_limits,
)
from tests.unit.stripe_standin.conftest import control

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
STRIPE_KEY = "sk_test_wallets"
LINK_SECRET = "integration-payment-link-secret"
GROUP = "wallets-schedules"
DESTROY_ARN = "arn:aws:lambda:us-east-1:123456789012:function:destroy"
ROLE_ARN = "arn:aws:iam::123456789012:role/scheduler"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:schedule-dlq"
CREATE = "/api/v2/invoice-wallets/create-from-invoice"


class LockedClient:
    """Each call on a moto client is atomic (moto's in-process backends are not thread-safe); threads still
    interleave between calls, which is where the races under test happen."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client = client
        self._lock = lock
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                return attribute(*args, **kwargs)

        return call


@dataclass
class Env:
    handler: ModuleType
    dynamodb: Any
    kms: Any
    scheduler: Any
    clock: FixedClock
    standin: BackgroundStandIn
    key_id: str
    locked_kms: LockedClient

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        # Wallet making and wallet reads are two functions, as API Gateway routes them.
        import functions.wallets.handler as reads

        function = reads if event["httpMethod"] == "GET" else self.handler
        name = "wallets" if function is reads else "create_wallet"
        return dict(function.lambda_handler(event, FakeLambdaContext(function_name=name)))

    def invoice(self, principal: dict[str, str] = MERCHANT, **overrides: Any) -> str:
        service = InvoiceService(DynamoDBInvoiceRepository(self.dynamodb, TABLE), self.clock)
        who = Principal(principal["sub"], principal["tenant_id"], frozenset(principal["roles"].split(",")))
        values: dict[str, Any] = {
            "customer_id": "cus_alice",
            "currency": "USD",
            "line_items": [LineItemInput(description="Work", quantity=2, unit_price="125.50")],
            "due_date": "2030-02-01",
            **overrides,
        }
        return service.create(who, InvoiceCreate.model_validate(values)).id

    def create(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.call(api_event("POST", CREATE, body=body, **kwargs))

    def schedules(self) -> list[dict[str, Any]]:
        listed = self.scheduler.list_schedules(GroupName=GROUP)["Schedules"]
        return [self.scheduler.get_schedule(Name=s["Name"], GroupName=GROUP) for s in listed]


@pytest.fixture(scope="module")
def live_standin() -> Iterator[BackgroundStandIn]:
    with BackgroundStandIn() as server:
        yield server


@pytest.fixture
def env(dynamodb: Any, live_standin: BackgroundStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    import functions.create_wallet.handler as handler

    control(live_standin, "POST", "/_control/reset")
    lock = threading.Lock()
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    scheduler.create_schedule_group(Name=GROUP)
    clock = FixedClock(NOW)
    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": key_id,
            "SCHEDULE_GROUP_NAME": GROUP,
            "SCHEDULER_ROLE_ARN": ROLE_ARN,
            "SCHEDULER_DLQ_ARN": DLQ_ARN,
            "DESTROY_FUNCTION_ARN": DESTROY_ARN,
            "PUBLIC_BASE_URL": "https://pay.example",
            "POWERTOOLS_SERVICE_NAME": "create_wallet",
        }
    )
    locked_kms = LockedClient(kms, lock)
    cards = StripeCardIssuer(build_stripe_client(STRIPE_KEY, live_standin.base_url, max_network_retries=0))
    adapters = Adapters(
        settings,
        dynamodb=LockedClient(dynamodb, lock),
        kms=locked_kms,
        scheduler=LockedClient(scheduler, lock),
        cards=cards,
        stripe_keys={"stripe_secret_key": STRIPE_KEY},
        payment_link_secret=LINK_SECRET,
        clock=clock,
    )
    bootstrap.use(adapters)
    yield Env(handler, dynamodb, kms, scheduler, clock, live_standin, key_id, locked_kms)


def test_create_from_invoice_writes_everything_in_one_go_and_schedules_destruction(env: Env) -> None:
    invoice_id = env.invoice()
    response = env.create({"invoice_id": invoice_id, "ttl": 3600})
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]
    wallet, card = data["wallet"], data["card"]
    assert (data["isNew"], data["mode"], data["expiresIn"]) == (True, "ephemeral", 3600)
    assert wallet["invoice_id"] == invoice_id and wallet["expires_at"] == "2030-01-01T13:00:00.000Z"
    assert wallet["wallet_address"].startswith("0x") and wallet["provider"] is None
    assert (wallet["spending_limit"], wallet["balance"], wallet["status"]) == ("251.00", "0.00", "active")
    assert (
        card["spending_limit"] == "251.00"
        and card["remaining_limit"] == "251.00"
        and card["single_use"] is True
    )
    assert card["id"].startswith("ic_") and len(card["last4"]) == 4
    wallet_id = wallet["wallet_id"]

    items = {(i["pk"]["S"], i["sk"]["S"]): i for i in scan_all(env.dynamodb)}
    meta = items[(f"WALLET#{wallet_id}", "META")]
    assert meta["tenant_id"]["S"] == "tenant-a" and meta["invoice_id"]["S"] == invoice_id
    assert meta["gsi2pk"]["S"] == "TENANT#tenant-a#WALLETS#ACTIVE"
    # The sealed keys are in the key table (no stream, no PITR), never in the main table.
    assert (f"WALLET#{wallet_id}", "KEYS") not in items
    keys = key_table_item(env, wallet_id)
    assert {"ciphertext", "nonce", "wrapped_key"} <= {k for k, v in keys.items() if "B" in v}
    assert keys["algorithm"]["S"] == "AES-256-GCM"
    assert items[(f"WALLET#{wallet_id}", "CARD")]["card_id"]["S"] == card["id"]
    assert items[(f"INVOICEWALLET#{invoice_id}", "UNIQUE")]["wallet_id"]["S"] == wallet_id
    lease = items[(f"LEASE#{wallet_id}", "LEASE")]
    assert int(lease["ttl"]["N"]) == int(datetime(2030, 1, 1, 13, tzinfo=UTC).timestamp())
    assert items[("STATS#tenant-a", "WALLETS")]["created_total"]["N"] == "1"
    events = sorted(i["event_name"]["S"] for k, i in items.items() if k[0].startswith("OUTBOX#"))
    # The invoice's own creation, its finalization (a draft is sent before it gets a wallet), then ours.
    assert events == ["invoice.created", "invoice.created", "invoice.sent", "wallet:created"]
    invoice_item = next(i for k, i in items.items() if i.get("id", {}).get("S") == invoice_id)
    assert invoice_item["status"]["S"] == "sent"
    assert any(k[0] == f"AUDIT#{wallet_id}" for k in items)
    # No plaintext key material anywhere in the table or the response.
    private = WalletKeyVault(
        DynamoDBWalletRepository(env.dynamodb, TABLE, key_table_name=KEY_TABLE),
        KmsDataKeys(env.kms, env.key_id),
        env.clock,
    ).open(wallet_id)
    dumped = json.dumps(scan_all(env.dynamodb), default=lambda b: bytes(b).hex()) + response["body"]
    dumped += json.dumps(keys, default=lambda b: bytes(b).hex())
    assert private.evm_private_key.hex() not in dumped and private.solana_seed.hex() not in dumped

    (schedule,) = env.schedules()
    assert schedule["Name"] == f"destroy-{wallet_id}"
    assert schedule["ScheduleExpression"] == "at(2030-01-01T13:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"], target["DeadLetterConfig"]["Arn"]) == (
        DESTROY_ARN,
        ROLE_ARN,
        DLQ_ARN,
    )
    assert json.loads(target["Input"]) == {"wallet_id": wallet_id, "trigger": "schedule"}

    again = env.create({"invoice_id": invoice_id}, principal=CONSUMER)
    assert again["statusCode"] == 200
    assert body_of(again)["data"]["isNew"] is False
    assert body_of(again)["data"]["wallet"]["wallet_id"] == wallet_id


def test_to_a_consumer_a_draft_has_no_wallet_and_nothing_changes(env: Env) -> None:
    invoice_id = env.invoice()
    before = scan_all(env.dynamodb)
    refused = env.create({"invoice_id": invoice_id}, principal=CONSUMER)
    assert (refused["statusCode"], body_of(refused)["code"]) == (404, "not_found")
    assert scan_all(env.dynamodb) == before
    made = env.create({"invoice_id": invoice_id})
    assert made["statusCode"] == 201, made["body"]
    # Sent by the merchant's wallet creation, the invoice (and so its wallet) is the customer's to see.
    again = env.create({"invoice_id": invoice_id}, principal=CONSUMER)
    assert again["statusCode"] == 200 and body_of(again)["data"]["isNew"] is False


def key_table_item(env: Env, wallet_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"WALLET#{wallet_id}"}, "sk": {"S": "KEYS"}}
    item: dict[str, Any] = env.dynamodb.get_item(TableName=KEY_TABLE, Key=key, ConsistentRead=True)["Item"]
    return item


def test_twenty_concurrent_creations_make_one_wallet(env: Env) -> None:
    # Twenty creations in one second are over the default 10/s: this tenant is allowed more.
    set_tenant_limits(env.dynamodb, "tenant-a", creation_per_second=50)
    invoice_id = env.invoice()
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: env.create({"invoice_id": invoice_id}), range(20)))
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses == [200] * 19 + [201], [body_of(r) for r in responses if r["statusCode"] >= 400]
    wallets = {body_of(r)["data"]["wallet"]["wallet_id"] for r in responses}
    addresses = {body_of(r)["data"]["wallet"]["wallet_address"] for r in responses}
    cards = {body_of(r)["data"]["card"]["id"] for r in responses}
    assert len(wallets) == len(addresses) == len(cards) == 1
    stored = [
        i for i in scan_all(env.dynamodb) if i["sk"]["S"] == "META" and i["pk"]["S"].startswith("WALLET#")
    ]
    assert len(stored) == 1
    # The losers' sealed keys went with their failed transactions: one KEYS item, the winner's.
    sealed = env.dynamodb.scan(TableName=KEY_TABLE, ConsistentRead=True)["Items"]
    assert [i["pk"]["S"] for i in sealed] == [stored[0]["pk"]["S"]]
    stats = next(i for i in scan_all(env.dynamodb) if i["pk"]["S"] == "STATS#tenant-a")
    assert stats["created_total"]["N"] == "1"
    state = control(env.standin, "GET", "/_control/state")
    assert state["objects"]["issuing.card"] == 1 and state["objects"]["issuing.cardholder"] == 1
    assert len(env.schedules()) == 1
    # Several callers got past the read before the winner committed: the database, not the read, decided.
    assert env.locked_kms.calls["generate_data_key"] > 1


def test_transform_deletes_schedule_and_lease_and_is_idempotent(env: Env) -> None:
    wallet_id = body_of(env.create({"invoice_id": env.invoice()}))["data"]["wallet"]["wallet_id"]
    path = f"/api/v2/invoice-wallets/{wallet_id}/transform"
    first = env.call(api_event("POST", path, headers={"Idempotency-Key": "t-1"}))
    assert first["statusCode"] == 200 and body_of(first)["data"]["new_type"] == "persistent"
    assert env.schedules() == []
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in scan_all(env.dynamodb)}
    assert (f"LEASE#{wallet_id}", "LEASE") not in keys
    second = env.call(api_event("POST", path))
    assert second["statusCode"] == 200 and body_of(second)["data"] == body_of(first)["data"]
    replay = env.call(api_event("POST", path, headers={"Idempotency-Key": "t-1"}))
    assert header(replay, "Idempotent-Replayed") == "true"
    wallet = body_of(env.call(api_event("GET", f"/api/v2/invoice-wallets/{wallet_id}")))["data"]["wallet"]
    assert (wallet["wallet_type"], wallet["expires_at"]) == ("persistent", None)
    countdown = env.call(api_event("GET", f"/api/v2/invoice-wallets/{wallet_id}/countdown", principal=None))
    assert countdown["statusCode"] == 404


def test_a_wallet_transformed_for_a_consumers_invoice_joins_their_wallets(env: Env) -> None:
    import functions.consumer.handler as consumer
    from shared.adapters.dynamodb_ledger import DynamoDBLedger
    from shared.ledger import movements

    def as_consumer(method: str, path: str, body: Any = None) -> dict[str, Any]:
        event = api_event(method, f"/api/consumer/{path}", body=body, principal=CONSUMER)
        response = consumer.lambda_handler(event, FakeLambdaContext(function_name="consumer"))
        assert response["statusCode"] in (200, 201), response["body"]
        return dict(body_of(response)["data"])

    as_consumer("POST", "onboard", {"email": "alice@example.com", "phone": "+14155550101"})
    wallet_id = body_of(env.create({"invoice_id": env.invoice()}))["data"]["wallet"]["wallet_id"]
    # Funded with 251.00 USDC (the invoice's total), as a card payment would.
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    ledger.post(
        movements.funding(
            operation_id=f"fund-{wallet_id}",
            wallet_id=wallet_id,
            tenant_id="tenant-a",
            currency="USD",
            token="USDC",
            fiat_amount=25100,
            created_at=env.clock.now(),
        )
    )
    assert as_consumer("GET", "balance")["total_usd"] == "0.00"
    path = f"/api/v2/invoice-wallets/{wallet_id}/transform"
    first = env.call(api_event("POST", path))
    assert first["statusCode"] == 200, first["body"]
    features = body_of(first)["data"]["features"]
    assert {"p2p_enabled", "savings_enabled", "multi_currency"} <= set(features)
    balance = as_consumer("GET", "balance")
    assert balance["total_usd"] == "251.00"
    assert {b["currency"]: b["available"] for b in balance["balances"]}["USDC"] == "251.00"
    assert as_consumer("GET", "portfolio")["total_usd"] == "251.00"
    lines = as_consumer("GET", "transactions")["transactions"]
    assert [(t["type"], t["amount"], t["counterparty"]) for t in lines] == [
        ("wallet_joined", "251.00", wallet_id)
    ]
    # Again: the same answer, and the wallet joined once.
    second = env.call(api_event("POST", path))
    assert body_of(second)["data"] == body_of(first)["data"]
    assert as_consumer("GET", "balance")["total_usd"] == "251.00"
    assert len(as_consumer("GET", "transactions")["transactions"]) == 1
    # An invoice of a customer who is no consumer: transformed as before, joining nobody.
    other = body_of(env.create({"invoice_id": env.invoice(customer_id="cus_nobody")}))["data"]["wallet"]
    plain = env.call(api_event("POST", f"/api/v2/invoice-wallets/{other['wallet_id']}/transform"))
    assert "p2p_enabled" not in body_of(plain)["data"]["features"]


def test_decrypt_then_erase_on_kms(env: Env) -> None:
    wallet = body_of(env.create({"invoice_id": env.invoice()}))["data"]["wallet"]
    vault = WalletKeyVault(
        DynamoDBWalletRepository(env.dynamodb, TABLE, key_table_name=KEY_TABLE),
        KmsDataKeys(env.kms, env.key_id),
        env.clock,
    )
    keys = vault.open(wallet["wallet_id"])
    assert (keys.evm_address, keys.solana_address) == (wallet["wallet_address"], wallet["solana_address"])
    vault.erase(wallet["wallet_id"], "tenant-a", "system")
    stored = key_table_item(env, wallet["wallet_id"])
    assert "wrapped_key" not in stored and "ciphertext" in stored and "erased_at" in stored
    with pytest.raises(KeyMaterialErased):
        vault.open(wallet["wallet_id"])


def test_reads_countdown_and_tenant_isolation(env: Env) -> None:
    invoice_id = env.invoice()
    wallet_id = body_of(env.create({"invoice_id": invoice_id, "ttl": 120}))["data"]["wallet"]["wallet_id"]
    base = f"/api/v2/invoice-wallets/{wallet_id}"
    for path in (base, f"{base}/status", f"/api/v2/invoice-wallets/by-invoice/{invoice_id}"):
        assert env.call(api_event("GET", path, principal=CONSUMER))["statusCode"] == 200
        assert env.call(api_event("GET", path, principal=OTHER_MERCHANT))["statusCode"] == 404
    assert env.call(api_event("POST", f"{base}/transform", principal=OTHER_MERCHANT))["statusCode"] == 404
    other = env.create({"invoice_id": invoice_id}, principal=OTHER_MERCHANT)
    assert other["statusCode"] == 404
    env.clock.advance(seconds=30)
    countdown = env.call(api_event("GET", f"{base}/countdown", principal=None))
    assert countdown["statusCode"] == 200 and header(countdown, "X-Countdown-Seconds") == "90"
    assert body_of(countdown)["data"]["remaining_seconds"] == 90
    env.clock.advance(seconds=600)
    late = body_of(env.call(api_event("GET", f"{base}/countdown", principal=None)))["data"]
    assert (late["status"], late["is_expired"], late["remaining_seconds"]) == ("expired", True, 0)
    status = body_of(env.call(api_event("GET", f"{base}/status")))["data"]
    assert status["status"] == "expired"
    refused = env.call(api_event("POST", f"{base}/transform"))
    assert refused["statusCode"] == 400 and body_of(refused)["code"] == "invalid_state"


def test_void_invoice_is_invalid_state_and_unknown_is_404(env: Env) -> None:
    invoice_id = env.invoice()
    InvoiceService(DynamoDBInvoiceRepository(env.dynamodb, TABLE), env.clock).void(
        Principal("merchant-1", "tenant-a", frozenset({"merchant"})), invoice_id
    )
    before = scan_all(env.dynamodb)
    refused = env.create({"invoice_id": invoice_id})
    assert refused["statusCode"] == 400 and body_of(refused)["code"] == "invalid_state"
    assert env.create({"invoice_id": "inv_" + "9" * 24})["statusCode"] == 404
    assert scan_all(env.dynamodb) == before


def test_the_mode_header_and_override(env: Env) -> None:
    persistent = env.create({"invoice_id": env.invoice()}, headers={"X-Wallet-Mode": "persistent"})
    data = body_of(persistent)["data"]
    assert (data["mode"], data["expiresIn"], data["wallet"]["expires_at"]) == ("persistent", None, None)
    adaptive = env.create(
        {"invoice_id": env.invoice(), "mode_override": "adaptive"}, headers={"X-Wallet-Mode": "persistent"}
    )
    assert body_of(adaptive)["data"]["mode"] == "adaptive"
    assert env.schedules() == []


@pytest.mark.parametrize(
    ("body", "headers", "field"),
    [
        ({"ttl": 59}, {}, "ttl"),
        ({"ttl": 2_592_001}, {}, "ttl"),
        ({"ttl": "3600"}, {}, "ttl"),
        ({"mode_override": "forever"}, {}, "mode_override"),
        ({}, {"X-Wallet-Mode": "immortal"}, "X-Wallet-Mode"),
        ({"extra": 1}, {}, "extra"),
    ],
)
def test_bad_input_is_a_validation_error_and_writes_nothing(
    env: Env, body: dict[str, Any], headers: dict[str, str], field: str
) -> None:
    invoice_id = env.invoice()
    before = scan_all(env.dynamodb)
    response = env.create({"invoice_id": invoice_id, **body}, headers={"Idempotency-Key": "k-1", **headers})
    assert response["statusCode"] == 400
    payload = body_of(response)
    assert payload["code"] == "validation_error" and any(
        field.lower() in d["field"].lower() for d in payload["details"]
    )
    assert scan_all(env.dynamodb) == before and env.schedules() == []


def test_stripe_down_is_503_and_writes_nothing(env: Env) -> None:
    invoice_id = env.invoice()
    before = scan_all(env.dynamodb)
    control(env.standin, "POST", "/_control/down", {"down": True})
    try:
        response = env.create({"invoice_id": invoice_id})
    finally:
        control(env.standin, "POST", "/_control/down", {"down": False})
    assert response["statusCode"] == 503
    assert scan_all(env.dynamodb) == before and env.schedules() == []
    assert env.create({"invoice_id": invoice_id})["statusCode"] == 201


def test_v1_create_wallet_returns_a_verifiable_link_and_svg_qr(env: Env) -> None:
    body = {
        "amount": "99.95",
        "currency": "USD",
        "vendorId": "vendor-7",
        "description": "Consulting",
        "dueDate": "2030-02-01",
        "metadata": {"order": "A-1"},
    }
    response = env.call(api_event("POST", "/api/v1/invoices/create-wallet", body=body))
    assert response["statusCode"] == 201, response["body"]
    data = body_of(response)["data"]
    assert data["walletId"].startswith("wal_") and data["walletAddress"].startswith("0x")
    assert data["expiresAt"] == "2030-01-02T12:00:00.000Z"
    assert data["qrCode"].startswith("data:image/svg+xml")
    prefix = "https://pay.example/public/pay/"
    assert data["paymentLink"].startswith(prefix)
    claims = PaymentLinks(LINK_SECRET, env.clock, "https://pay.example").verify(
        data["paymentLink"][len(prefix) :]
    )
    assert (claims.tenant_id, claims.invoice_id, claims.wallet_id) == (
        "tenant-a",
        data["invoiceId"],
        data["walletId"],
    )
    invoice = env.dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": "TENANT#tenant-a"}, "sk": {"S": f"INVOICE#{data['invoiceId']}"}}
    )["Item"]
    assert invoice["total_amount"]["N"] == "99.95"
    assert invoice["metadata"]["M"] == {"order": {"S": "A-1"}, "vendor_id": {"S": "vendor-7"}}
    bad = env.call(api_event("POST", "/api/v1/invoices/create-wallet", body={**body, "amount": "1.001"}))
    assert bad["statusCode"] == 400


def test_v1_ephemeral_create_and_its_validation(env: Env) -> None:
    path = "/api/v1/wallets/ephemeral/create"
    before = scan_all(env.dynamodb)
    for bad in (
        {"purpose": "gift", "expiryMinutes": 10},
        {"purpose": "p2p", "expiryMinutes": 0},
        {"purpose": "p2p", "expiryMinutes": 10081},
    ):
        response = env.call(api_event("POST", path, body=bad, principal=CONSUMER))
        assert response["statusCode"] == 400 and body_of(response)["code"] == "validation_error"
    assert scan_all(env.dynamodb) == before
    response = env.call(
        api_event("POST", path, body={"purpose": "p2p", "expiryMinutes": 15}, principal=CONSUMER)
    )
    assert response["statusCode"] == 201
    data = body_of(response)["data"]
    assert data["expiresAt"] == "2030-01-01T12:15:00.000Z" and data["address"].startswith("0x")
    assert [s["Name"] for s in env.schedules()] == [f"destroy-{data['walletId']}"]


def test_admin_stats_and_active_pages(env: Env) -> None:
    for _ in range(3):
        env.create({"invoice_id": env.invoice()})
        env.clock.advance(seconds=1)
    assert env.call(api_event("GET", "/api/v2/invoice-wallets/stats"))["statusCode"] == 403
    stats = body_of(env.call(api_event("GET", "/api/v2/invoice-wallets/stats", principal=ADMIN)))["data"]
    assert (
        stats["created_total"] == 3
        and stats["by_mode"]["ephemeral"] == 3
        and stats["ephemeral_share"] == "1.0000"
    )
    assert stats["average_ttl_seconds"] == 86_400 and stats["by_status"]["active"] == 3
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = body_of(
            env.call(api_event("GET", "/api/v2/invoice-wallets/active", principal=ADMIN, query=query))
        )
        seen += [w["wallet_id"] for w in page["data"]["wallets"]]
        cursor = page["data"]["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 3
    tampered = env.call(
        api_event("GET", "/api/v2/invoice-wallets/active", principal=ADMIN, query={"cursor": "eyJ4IjoxfQ"})
    )
    assert tampered["statusCode"] == 400
    other = body_of(
        env.call(
            api_event("GET", "/api/v2/invoice-wallets/stats", principal={**ADMIN, "tenant_id": "tenant-b"})
        )
    )
    assert other["data"]["created_total"] == 0
