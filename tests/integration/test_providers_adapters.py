"""The Tempo and Circle adapters against their running stand-ins: money moves once, outages are 503s."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.tempo.serving import BackgroundTempo
from shared.adapters.circle import CircleProvider
from shared.adapters.tempo import TempoProvider, http_client
from shared.errors import ProviderUnavailable
from shared.providers.errors import INSUFFICIENT_FUNDS, ProviderRejected
from shared.providers.models import Asset, HealthStatus, Transfer
from shared.providers.port import StablecoinProvider
from shared.providers.retry import RetryPolicy

FAST = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
NO_WAIT = RetryPolicy(attempts=3, base_delay_s=0.0, sleep=lambda _: None)
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundTempo, BackgroundCircle]]:
    with BackgroundTempo(seed=3) as tempo, BackgroundCircle(seed=3) as circle:
        yield tempo, circle


@pytest.fixture(params=["tempo", "circle"])
def live(
    request: pytest.FixtureRequest, servers: tuple[BackgroundTempo, BackgroundCircle]
) -> Iterator[tuple[StablecoinProvider, httpx.Client]]:
    tempo, circle = servers
    server = tempo if request.param == "tempo" else circle
    control = httpx.Client(base_url=server.base_url)
    control.post("/_control/reset")
    client = http_client(server.base_url, FAST)
    provider: StablecoinProvider = (
        TempoProvider(client, "tempo_test_key", NO_WAIT, health_timeout_s=0.3)
        if request.param == "tempo"
        else CircleProvider(client, "TEST_API_KEY:local:secret", NO_WAIT, health_timeout_s=0.3)
    )
    yield provider, control
    client.close()
    control.close()


def supply(control: httpx.Client, asset: str = "USDC") -> int:
    return int(control.get("/_control/state").json()["supply"].get(asset, 0))


def test_full_round_of_operations(live: tuple[StablecoinProvider, httpx.Client]) -> None:
    provider, _ = live
    a = provider.create_address("wal_round")
    assert provider.create_address("wal_round") == a  # same wallet, same address
    minted = provider.mint(Asset.USDC, 10_000_000, a, "fund-1")
    assert minted.amount_minor == 10_000_000 and minted.tx_hash and minted.tx_hash.startswith("0x")
    provider.transfer(Asset.USDC, 2_500_000, a, B, "p2p-1")
    batch = provider.batch_transfer(Asset.USDC, [Transfer(B, 1_000_000), Transfer(C, 500_000)], a, "batch-1")
    assert batch.amount_minor == 1_500_000
    provider.burn(Asset.USDC, 1_000_000, B, "redeem-1")
    swap = provider.swap(Asset.USDC, Asset.EURC, 1_080_000, a, "swap-1")
    assert (swap.amount_in_minor, swap.amount_out_minor) == (1_080_000, 999_999)  # rate truncated
    again = provider.swap(Asset.USDC, Asset.EURC, 1_080_000, a, "swap-1")
    assert again.tx_id == swap.tx_id
    assert provider.balance(Asset.USDC, a) == 10_000_000 - 2_500_000 - 1_500_000 - 1_080_000
    assert provider.balance(Asset.USDC, B) == 2_500_000
    assert provider.balance(Asset.EURC, a) == 999_999
    assert provider.total_supply(Asset.USDC) == 10_000_000 - 1_000_000 - 1_080_000
    with pytest.raises(ProviderRejected) as caught:
        provider.burn(Asset.USDC, 10**12, a, "redeem-too-much")
    assert caught.value.reason == INSUFFICIENT_FUNDS


def test_a_mint_retried_after_an_injected_500_mints_once(
    live: tuple[StablecoinProvider, httpx.Client],
) -> None:
    provider, control = live
    control.post("/_control/fail", json={"status": 500, "count": 2, "method": "POST"})
    tx = provider.mint(Asset.USDC, 3_000_000, B, "fund-retry")
    assert tx.amount_minor == 3_000_000
    assert supply(control) == 3_000_000
    assert provider.mint(Asset.USDC, 3_000_000, B, "fund-retry").tx_id == tx.tx_id
    assert supply(control) == 3_000_000


def test_a_lost_response_is_retried_into_the_same_mint(live: tuple[StablecoinProvider, httpx.Client]) -> None:
    provider, control = live
    # The stand-in mints, then hangs past the client's read timeout: the caller never saw the answer.
    control.post(
        "/_control/fail", json={"mode": "timeout_after", "count": 1, "method": "POST", "hang_seconds": 2}
    )
    tx = provider.mint(Asset.USDC, 4_000_000, C, "fund-lost")
    assert tx.amount_minor == 4_000_000
    state = control.get("/_control/state").json()
    assert state["supply"] == {"USDC": 4_000_000}
    assert [op["kind"] for op in state["operations"]] == ["mint"]


def test_timeouts_become_provider_unavailable(live: tuple[StablecoinProvider, httpx.Client]) -> None:
    provider, control = live
    control.post("/_control/fail", json={"mode": "timeout", "count": 3, "hang_seconds": 2})
    with pytest.raises(ProviderUnavailable) as caught:
        provider.mint(Asset.USDC, 1, B, "fund-timeout")
    assert caught.value.status == 503 and "timeout" in caught.value.message
    assert supply(control) == 0


def test_health_follows_down_latency_and_up(live: tuple[StablecoinProvider, httpx.Client]) -> None:
    provider, control = live
    assert provider.health().status is HealthStatus.HEALTHY
    control.post("/_control/down")
    down = provider.health()
    assert down.status is HealthStatus.DOWN and down.error == "HTTP 503"
    with pytest.raises(ProviderUnavailable):
        provider.balance(Asset.USDC, B)
    control.post("/_control/up")
    control.post("/_control/latency", json={"seconds": 1.0})
    assert provider.health().status is HealthStatus.DOWN  # slower than the probe's 0.3 s timeout
    control.post("/_control/latency", json={"seconds": 0})
    assert provider.health().status is HealthStatus.HEALTHY
