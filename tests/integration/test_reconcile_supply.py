"""Reconciliation's provider-supply check against the live Tempo and Circle stand-ins (on moto).

The ledger's outstanding USDC spans both providers (failover mints at Circle), so the check compares it
with the SUM of what the providers report. The stand-ins hold only what was minted through them, so the
equality is exact here; a provider that cannot answer makes the line `unavailable`, never a gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.bootstrap import Adapters, Capabilities
from shared.clock import FixedClock
from shared.config import Settings
from shared.providers.models import Asset
from shared.reserve.service import ProvidersSupply
from tests.integration.conftest import TABLE, body_of, scan_all
from tests.integration.test_reconcile_api import NOW, SCHEDULED, call, fund_and_pay, post_reconcile

SECRETS = {"tempo_api_key": "tempo_test_key", "circle_api_key": "TEST_API_KEY:local:circle"}
OUTSTANDING = 300_000_000  # fund_and_pay: three $100 fundings as USDC; the payment moves, never burns


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundTempo, BackgroundCircle]]:
    with BackgroundTempo() as tempo, BackgroundCircle() as circle:
        yield tempo, circle


@pytest.fixture
def controls(servers: tuple[BackgroundTempo, BackgroundCircle]) -> Iterator[dict[str, httpx.Client]]:
    tempo, circle = servers
    clients = {
        "tempo": httpx.Client(base_url=tempo.base_url),
        "circle": httpx.Client(base_url=circle.base_url),
    }
    for client in clients.values():
        client.post("/_control/reset")
    yield clients
    for client in clients.values():
        client.post("/_control/clear_faults")
        client.close()


@pytest.fixture
def reconcile(
    dynamodb: Any, servers: tuple[BackgroundTempo, BackgroundCircle], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The reconcile function wired as the stack wires it: provider URLs in the environment, keys in
    ProvidersSecret, adapters built by build_providers on the first run."""
    import functions.reconcile.handler as handler

    tempo, circle = servers
    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "POWERTOOLS_SERVICE_NAME": "reconcile",
            "TEMPO_API_BASE": tempo.base_url,
            "CIRCLE_API_BASE": circle.base_url,
        }
    )
    bootstrap.use(Adapters(settings, dynamodb=dynamodb, clock=FixedClock(NOW), provider_keys=SECRETS))
    yield handler


def providers_of(handler: ModuleType) -> dict[str, Any]:
    supply = bootstrap.app().reconciliation._supply
    assert isinstance(supply, ProvidersSupply)
    return dict(supply._providers())


def mint(handler: ModuleType, name: str, amount: int, key: str) -> None:
    provider = providers_of(handler)[name]
    address = provider.create_address(f"wal_{key}")
    provider.mint(Asset.USDC, amount, address, key)


def usdc(data: dict[str, Any]) -> dict[str, Any]:
    return dict(next(a for a in data["assets"] if a["asset"] == "USDC"))


def test_supply_split_over_both_providers_matches_the_ledger(
    reconcile: ModuleType, dynamodb: Any, controls: dict[str, httpx.Client]
) -> None:
    fund_and_pay(dynamodb)
    mint(reconcile, "tempo", 200_000_000, "mint-a")
    mint(reconcile, "circle", OUTSTANDING - 200_000_000, "mint-b")  # a failover mint at the fallback

    data = body_of(post_reconcile(reconcile))["data"]

    assert data["status"] == "balanced", data
    assert data["checks"]["provider_supply"] == "passed"
    line = usdc(data)
    assert (line["provider_supply"], line["provider_check"]) == ("300.000000", "passed")


def test_a_mint_outside_the_ledger_is_a_discrepancy(
    reconcile: ModuleType, dynamodb: Any, controls: dict[str, httpx.Client]
) -> None:
    fund_and_pay(dynamodb)
    mint(reconcile, "tempo", OUTSTANDING, "mint-a")
    mint(reconcile, "circle", 1_500_000, "rogue")  # 1.50 USDC nobody journaled

    data = body_of(post_reconcile(reconcile))["data"]

    assert data["status"] == "discrepancy_detected"
    assert data["checks"] == {
        "reserve_backs_supply": "passed",
        "ledger_sums_to_zero": "passed",
        "accounts_match_totals": "passed",
        "provider_supply": "failed",
    }
    line = usdc(data)
    assert (line["provider_supply"], line["provider_check"]) == ("301.500000", "failed")
    assert data["total_gap"] == "1.500000"
    (event,) = [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]
    assert event["event_name"]["S"] == "reserve:discrepancy"


def test_a_provider_down_leaves_the_line_unavailable_not_failed(
    reconcile: ModuleType, dynamodb: Any, controls: dict[str, httpx.Client]
) -> None:
    fund_and_pay(dynamodb)
    mint(reconcile, "tempo", 200_000_000, "mint-a")
    mint(reconcile, "circle", OUTSTANDING - 200_000_000, "mint-b")
    controls["circle"].post("/_control/down")

    assert call(reconcile, SCHEDULED) == {"date": "2030-03-04", "status": "balanced", "runs": 1}
    data = body_of(post_reconcile(reconcile))["data"]

    # Tempo alone reports 200 of the 300: summing what answered would have been a false gap.
    assert data["status"] == "balanced" and data["runs"] == 2
    assert data["checks"]["provider_supply"] == "unavailable"
    assert (usdc(data)["provider_supply"], usdc(data)["provider_check"]) == (None, "unavailable")
    assert not [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith("OUTBOX#")]

    controls["circle"].post("/_control/up")
    back = body_of(post_reconcile(reconcile))["data"]
    assert back["checks"]["provider_supply"] == "passed" and back["runs"] == 3


def test_unreadable_provider_keys_leave_the_line_unavailable(
    dynamodb: Any, servers: tuple[BackgroundTempo, BackgroundCircle], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions.reconcile.handler as handler

    settings = Settings.model_validate(
        {
            "TABLE_NAME": TABLE,
            "POWERTOOLS_SERVICE_NAME": "reconcile",
            "TEMPO_API_BASE": servers[0].base_url,
            "PROVIDERS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
        }
    )
    bootstrap.use(Adapters(settings, dynamodb=dynamodb, clock=FixedClock(NOW)))
    fund_and_pay(dynamodb)

    data = body_of(post_reconcile(handler))["data"]

    assert data["status"] == "balanced"
    assert usdc(data)["provider_check"] == "unavailable"


def test_without_configured_providers_nothing_is_claimed(dynamodb: Any) -> None:
    settings = Settings.model_validate({"TABLE_NAME": TABLE, "POWERTOOLS_SERVICE_NAME": "reconcile"})
    assert Capabilities(Adapters(settings, dynamodb=dynamodb))._supply is None
    # Zero providers must not sum to a supply of 0 (which would contradict any ledger).
    assert ProvidersSupply(dict).total_supply("USDC") is None
    assert ProvidersSupply(lambda: {"tempo": _Raising()}).total_supply("NOPE") is None


class _Raising:
    def total_supply(self, asset: Asset) -> int:
        raise AssertionError("an unknown token must not reach a provider")
