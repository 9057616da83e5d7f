"""The fund function on moto with the Stripe, Tempo and Circle stand-ins live, through v1 API events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.stripe.serving import BackgroundStandIn
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_invoices import DynamoDBInvoiceRepository
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.stripe_client import build_stripe_client
from shared.adapters.stripe_issuing import StripeCardIssuer
from shared.adapters.stripe_payments import StripePaymentProcessor
from shared.adapters.tempo import TempoProvider, http_client
from shared.auth import Principal
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings
from shared.invoices.service import InvoiceService
from shared.ledger.accounts import Account
from shared.models.invoice import InvoiceCreate, LineItemInput
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import (
    CONSUMER,
    MERCHANT,
    OTHER_MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
)
from tests.unit.stripe_standin.conftest import control

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
STRIPE_KEY = "sk_test_wallets"
SECRETS = {"stripe_secret_key": STRIPE_KEY}


@dataclass
class Env:
    fund_fn: ModuleType
    create_fn: ModuleType
    dynamodb: Any
    clock: FixedClock
    stripe: BackgroundStandIn
    tempo: httpx.Client
    circle: httpx.Client

    def wallet(self, ttl: int = 3600) -> str:
        service = InvoiceService(DynamoDBInvoiceRepository(self.dynamodb, TABLE), self.clock)
        who = Principal(MERCHANT["sub"], MERCHANT["tenant_id"], frozenset({"merchant"}))
        invoice = service.create(
            who,
            InvoiceCreate.model_validate(
                {
                    "customer_id": "cus_alice",
                    "currency": "USD",
                    "line_items": [LineItemInput(description="Work", quantity=2, unit_price="125.50")],
                    "due_date": "2030-02-01",
                }
            ),
        )
        event = api_event(
            "POST", "/api/v2/invoice-wallets/create-from-invoice", body={"invoice_id": invoice.id, "ttl": ttl}
        )
        response = self.create_fn.lambda_handler(event, FakeLambdaContext(function_name="create_wallet"))
        assert response["statusCode"] == 201, response["body"]
        return str(body_of(response)["data"]["wallet"]["wallet_id"])

    def fund(
        self,
        wallet_id: str,
        method: str = "pm_card_visa",
        key: str | None = "fund-key-1",
        principal: dict[str, str] = MERCHANT,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else None
        event = api_event(
            "POST",
            f"/api/v2/invoice-wallets/{wallet_id}/fund",
            body={"payment_method": method},
            principal=principal,
            headers=headers,
        )
        return dict(self.fund_fn.lambda_handler(event, FakeLambdaContext(function_name="fund")))

    def stripe_objects(self) -> dict[str, int]:
        return dict(control(self.stripe, "GET", "/_control/state")["objects"])

    def chain(self, client: httpx.Client) -> dict[str, Any]:
        return dict(client.get("/_control/state").json())


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle]]:
    with BackgroundStandIn() as stripe_server, BackgroundTempo() as tempo, BackgroundCircle() as circle:
        yield stripe_server, tempo, circle


@pytest.fixture
def env(
    dynamodb: Any,
    servers: tuple[BackgroundStandIn, BackgroundTempo, BackgroundCircle],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    import functions.create_wallet.handler as create_fn
    import functions.fund.handler as fund_fn

    stripe_server, tempo, circle = servers
    control(stripe_server, "POST", "/_control/reset")
    controls = {
        "tempo": httpx.Client(base_url=tempo.base_url),
        "circle": httpx.Client(base_url=circle.base_url),
    }
    for client in controls.values():
        client.post("/_control/reset")
    clock = FixedClock(NOW)
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    scheduler.create_schedule_group(Name="wallets-schedules")
    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": key_id,
            "SCHEDULE_GROUP_NAME": "wallets-schedules",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
            "SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:schedule-dlq",
            "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
            "PUBLIC_BASE_URL": "https://pay.example",
            "POWERTOOLS_SERVICE_NAME": "fund",
        }
    )
    stripe_client = build_stripe_client(STRIPE_KEY, stripe_server.base_url, max_network_retries=0)
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
    retry = RetryPolicy(attempts=1)
    providers: dict[str, Any] = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    bootstrap.use(
        Adapters(
            settings,
            dynamodb=dynamodb,
            kms=kms,
            scheduler=scheduler,
            cards=StripeCardIssuer(stripe_client),
            payments=StripePaymentProcessor(stripe_client),
            providers=providers,
            stripe_keys=SECRETS,
            payment_link_secret="integration-link-secret",
            clock=clock,
        )
    )
    yield Env(fund_fn, create_fn, dynamodb, clock, stripe_server, controls["tempo"], controls["circle"])
    for client in controls.values():
        client.close()


def items(env: Env, prefix: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(env.dynamodb) if i["pk"]["S"].startswith(prefix)]


def test_funding_charges_mints_and_commits_wallet_ledger_and_events(env: Env) -> None:
    wallet_id = env.wallet()
    response = env.fund(wallet_id)
    assert response["statusCode"] == 200, response["body"]
    data = body_of(response)["data"]
    assert (data["wallet_balance"], data["status"], data["provider"]) == ("251.00", "funded", "tempo")
    assert data["payment_intent_id"].startswith("pi_") and data["transaction_hash"]

    meta = items(env, f"WALLET#{wallet_id}")
    wallet = next(i for i in meta if i["sk"]["S"] == "META")
    assert (wallet["status"]["S"], wallet["balance"]["N"], wallet["provider"]["S"]) == (
        "funded",
        "251.00",
        "tempo",
    )
    ledger = DynamoDBLedger(env.dynamodb, TABLE)
    assert ledger.balance(Account.wallet(wallet_id, "USDC")) == 251_000_000
    assert ledger.balance(Account.reserve("USD")) == 25100
    stats = items(env, "STATS#tenant-a")[0]
    assert (stats["status_funded"]["N"], stats["status_active"]["N"]) == ("1", "0")
    outbox = [
        i for i in items(env, "OUTBOX#") if i["event_name"]["S"] in ("wallet:funded", "payment:received")
    ]
    assert len(outbox) == 2
    for event in outbox:
        channels = [c["S"] for c in event["channels"]["L"]]
        assert channels[0] == f"wallet:{wallet_id}" and channels[1].startswith("invoice:inv_")
        assert event["data"]["M"]["tenant_id"]["S"] == "tenant-a"
    assert any(i["action"]["S"] == "wallet.funded" for i in items(env, f"AUDIT#{wallet_id}"))
    chain = env.chain(env.tempo)
    address = wallet["evm_address"]["S"]
    balances = {held.lower(): assets for held, assets in chain["balances"].items()}
    assert balances[address.lower()]["USDC"] == 251_000_000


def test_a_replayed_request_charges_once(env: Env) -> None:
    wallet_id = env.wallet()
    first = env.fund(wallet_id)
    second = env.fund(wallet_id)
    assert second["statusCode"] == 200 and header(second, "Idempotent-Replayed") == "true"
    assert body_of(second)["data"] == body_of(first)["data"]
    assert env.stripe_objects().get("payment_intent") == 1
    journals = [i for i in items(env, "LEDGER#JOURNAL#")]
    assert len(journals) == 1


def test_the_customer_may_fund_another_tenant_gets_404(env: Env) -> None:
    wallet_id = env.wallet()
    stranger = env.fund(wallet_id, principal=OTHER_MERCHANT)
    assert (stranger["statusCode"], body_of(stranger)["code"]) == (404, "not_found")
    assert env.stripe_objects().get("payment_intent", 0) == 0
    assert env.fund(wallet_id, principal=CONSUMER)["statusCode"] == 200


def test_a_declined_card_is_402_and_nothing_is_minted(env: Env) -> None:
    wallet_id = env.wallet()
    response = env.fund(wallet_id, method="pm_card_chargeDeclined")
    assert (response["statusCode"], body_of(response)["code"]) == (402, "payment_failed")
    assert env.chain(env.tempo)["supply"].get("USDC", 0) == 0
    assert items(env, "LEDGER#JOURNAL#") == []


def test_a_mint_outage_refunds_the_charge_and_answers_503(env: Env) -> None:
    wallet_id = env.wallet()
    env.tempo.post("/_control/down")
    response = env.fund(wallet_id)
    assert (response["statusCode"], body_of(response)["code"]) == (503, "provider_unavailable")
    objects = env.stripe_objects()
    assert (objects.get("payment_intent"), objects.get("refund")) == (1, 1)
    (refund,) = [i for i in items(env, f"WALLET#{wallet_id}") if i["sk"]["S"].startswith("FUNDREFUND#")]
    assert refund["refund_id"]["S"].startswith("re_") and refund["amount_minor"]["N"] == "25100"
    assert items(env, "LEDGER#JOURNAL#") == []
    # The same key again: no second charge, no mint, the refund stays the one refund.
    env.tempo.post("/_control/up")
    again = env.fund(wallet_id)
    assert again["statusCode"] == 503
    assert env.stripe_objects() == objects
    assert env.chain(env.tempo)["supply"].get("USDC", 0) == 0


def test_an_expired_wallet_is_invalid_state_and_nothing_is_charged(env: Env) -> None:
    wallet_id = env.wallet(ttl=60)
    env.clock.advance(seconds=61)
    response = env.fund(wallet_id)
    assert (response["statusCode"], body_of(response)["code"]) == (400, "invalid_state")
    assert env.stripe_objects().get("payment_intent", 0) == 0


def test_a_bad_body_is_a_validation_error(env: Env) -> None:
    wallet_id = env.wallet()
    response = env.fund(wallet_id, method="card 4242")
    assert (response["statusCode"], body_of(response)["code"]) == (400, "validation_error")
