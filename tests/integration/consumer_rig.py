"""A consumer rig on moto with the Tempo and Circle stand-ins live: onboarding through the consumer function,
money seeded as a deposit brings it (a funding journal, and the same tokens minted at the provider)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.dynamodb_ledger import DynamoDBLedger
from shared.adapters.rates import ConfiguredRates
from shared.adapters.tempo import TempoProvider, http_client
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import Settings
from shared.consumer.ports import Rate
from shared.ledger import movements
from shared.ledger.accounts import Account
from shared.ledger.assets import STABLECOINS
from shared.ledger.reserve import Status, reserve_report
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import TABLE, FakeLambdaContext, api_event, body_of, scan_all
from tests.integration.test_wallets_api import LockedClient

NOW = datetime(2030, 1, 15, 12, 0, 0, tzinfo=UTC)
ALICE = {"sub": "usr_alice", "tenant_id": "tenant-a", "roles": "consumer"}
BOB = {"sub": "usr_bob", "tenant_id": "tenant-a", "roles": "consumer"}
CAROL = {"sub": "usr_carol", "tenant_id": "tenant-a", "roles": "consumer"}
CONTACTS = {
    "usr_alice": ("alice@example.com", "+14155550101"),
    "usr_bob": ("bob@example.com", "+14155550102"),
    "usr_carol": ("carol@example.com", "+14155550103"),
}
EUR_RATE = "EUR=1.0850@2030-01-15T00:00:00Z"


class MovingRates(ConfiguredRates):
    """The configured rates, with a EUR price a test can move (the swap's slippage bound is checked
    against it)."""

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(EUR_RATE, clock)
        self.eur: Decimal | None = None

    def usd_rate(self, currency: str) -> Rate:
        found = super().usd_rate(currency)
        return Rate(currency, self.eur, found.as_of) if currency == "EUR" and self.eur else found


class UnusedCards:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a consumer route called the card issuer ({name})")


@dataclass
class Rig:
    dynamodb: Any
    clock: FixedClock
    ledger: DynamoDBLedger
    tempo: httpx.Client
    circle: httpx.Client
    wallets: dict[str, dict[str, Any]]
    rates: MovingRates
    aws_calls: dict[str, int]
    """DynamoDB calls the functions made, by operation name."""

    def call(
        self, method: str, path: str, principal: dict[str, str] = ALICE, body: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        module = _handler(
            "consumer_swaps"
            if path.startswith("swap")
            else "consumer_requests"
            if path.startswith("requests")
            else "consumer"
            if path.split("/")[0] in ("onboard", "balance", "limits", "transactions")
            else "consumer_transfers"
        )
        event = api_event(method, f"/api/consumer/{path}", body=body, principal=principal, **kwargs)
        return dict(module.lambda_handler(event, FakeLambdaContext(function_name="consumer_transfers")))

    def onboard(self, principal: dict[str, str]) -> dict[str, Any]:
        email, phone = CONTACTS[principal["sub"]]
        response = self.call("POST", "onboard", principal, {"email": email, "phone": phone})
        assert response["statusCode"] in (200, 201), response["body"]
        wallet = body_of(response)["data"]["wallet"]
        self.wallets[principal["sub"]] = wallet
        return dict(wallet)

    def seed(self, principal: dict[str, str], coin: str, amount: str, at: str = "tempo") -> None:
        """A deposit's effect: fiat into the reserve and the tokens minted, in the ledger and at `at`."""
        wallet = self.wallets[principal["sub"]]
        cents = int(Decimal(amount) * 100)
        journal = movements.funding(
            operation_id=f"seed-{wallet['wallet_id']}-{coin}-{amount}-{at}",
            wallet_id=wallet["wallet_id"],
            tenant_id=principal["tenant_id"],
            currency=STABLECOINS[coin],
            token=coin,
            fiat_amount=cents,
            created_at=self.clock.now(),
        )
        self.ledger.post(journal)
        self.mint_at(at, coin, cents * 10_000, wallet["wallet_address"])

    def mint_at(self, provider: str, coin: str, units: int, address: str) -> None:
        client = self.tempo if provider == "tempo" else self.circle
        minted = _standin(provider).core.ledger.mint(coin, units, address)
        assert minted["amount"] == units and client is not None

    def balance(self, principal: dict[str, str], coin: str) -> int:
        return self.ledger.balance(Account.wallet(self.wallets[principal["sub"]]["wallet_id"], coin))

    def operations(self, provider: str, kind: str) -> list[dict[str, Any]]:
        return [op for op in _standin(provider).core.ledger.view()["operations"] if op["kind"] == kind]

    def money_items(self) -> list[dict[str, Any]]:
        prefixes = ("LEDGER#", "CONSUMER#", "OUTBOX#")
        return [item for item in scan_all(self.dynamodb) if item["pk"]["S"].startswith(prefixes)]

    def assert_balanced(self) -> None:
        """Per asset the ledger sums to zero and per backing currency the reserve equals the supply."""
        report = reserve_report(self.ledger.reserve_snapshot(), {})
        assert report.status is Status.BALANCED, report


_SERVERS: dict[str, Any] = {}


def _standin(provider: str) -> Any:
    return _SERVERS[provider].standin


def _handler(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"functions.{name}.handler")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundTempo, BackgroundCircle]]:
    with BackgroundTempo() as tempo, BackgroundCircle() as circle:
        _SERVERS.update(tempo=tempo, circle=circle)
        yield tempo, circle
        _SERVERS.clear()


@pytest.fixture(name="rig")
def rig_fixture(dynamodb: Any, servers: tuple[BackgroundTempo, BackgroundCircle]) -> Iterator[Rig]:
    tempo, circle = servers
    controls = {
        "tempo": httpx.Client(base_url=tempo.base_url),
        "circle": httpx.Client(base_url=circle.base_url),
    }
    for client in controls.values():
        client.post("/_control/reset")
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
    clock = FixedClock(NOW)
    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "KMS_KEY_ID": key_id,
            "USD_RATES": EUR_RATE,
            "POWERTOOLS_SERVICE_NAME": "consumer",
            # The sweeper is composed with destruction, which schedules: its settings as deployed.
            "DESTROY_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:destroy",
            "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
        }
    )
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=1.0, pool=1.0)
    retry = RetryPolicy(attempts=1)
    providers: dict[str, Any] = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    counted = LockedClient(dynamodb, threading.Lock())
    bootstrap.use(
        Adapters(
            settings,
            dynamodb=counted,
            kms=kms,
            scheduler=boto3.client("scheduler", region_name="us-east-1"),
            cards=UnusedCards(),
            providers=providers,
            rates=(rates := MovingRates(clock)),
            clock=clock,
            # The sweeper's funding path holds a Stripe client; no test of this rig reaches Stripe.
            stripe_keys={"stripe_secret_key": "sk_test_rig", "stripe_webhook_secret": "whsec_rig"},
        )
    )
    ledger = DynamoDBLedger(dynamodb, TABLE)
    yield Rig(dynamodb, clock, ledger, controls["tempo"], controls["circle"], {}, rates, counted.calls)
    bootstrap.reset()
    for client in controls.values():
        client.close()


def checked() -> None:
    """Record a health check of both providers now (the router elects from what is recorded)."""
    bootstrap.app().provider_checks.run()
