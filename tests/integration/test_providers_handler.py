"""The providers function on moto with live stand-ins: scheduled checks, failover, and the two GET views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import httpx
import pytest

from local.circle.serving import BackgroundCircle
from local.tempo.serving import BackgroundTempo
from shared import bootstrap
from shared.adapters.circle import CircleProvider
from shared.adapters.tempo import TempoProvider, http_client
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from shared.providers.retry import RetryPolicy
from tests.integration.conftest import (
    ADMIN,
    CONSUMER,
    MERCHANT,
    OPERATOR,
    FakeLambdaContext,
    api_event,
    body_of,
    scan_all,
)

SCHEDULE = {
    "version": "0",
    "id": "5e1f2c3a-0000-4000-8000-000000000001",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2030-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/ProviderHealthCheck"],
    "detail": {},
}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundTempo, BackgroundCircle]]:
    with BackgroundTempo() as tempo, BackgroundCircle() as circle:
        yield tempo, circle


@pytest.fixture
def controls(servers: tuple[BackgroundTempo, BackgroundCircle]) -> Iterator[dict[str, httpx.Client]]:
    clients = {
        name: httpx.Client(base_url=s.base_url) for name, s in zip(("tempo", "circle"), servers, strict=True)
    }
    for client in clients.values():
        client.post("/_control/reset")
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def providers_fn(
    dynamodb: Any,
    servers: tuple[BackgroundTempo, BackgroundCircle],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> ModuleType:
    import functions.providers.handler as handler

    tempo, circle = servers
    timeout = httpx.Timeout(connect=1.0, read=0.5, write=1.0, pool=1.0)
    retry = RetryPolicy(attempts=1)
    adapters = {
        "tempo": TempoProvider(http_client(tempo.base_url, timeout), "tempo_test_key", retry, 0.5),
        "circle": CircleProvider(
            http_client(circle.base_url, timeout), "TEST_API_KEY:l:s", retry, health_timeout_s=0.5
        ),
    }
    bootstrap.use(Adapters(get_settings(), dynamodb=dynamodb, clock=clock, providers=adapters))
    return handler


def items(dynamodb: Any, prefix: str) -> list[dict[str, Any]]:
    return [i for i in scan_all(dynamodb) if i["pk"]["S"].startswith(prefix)]


def check(handler: ModuleType) -> dict[str, Any]:
    return dict(handler.lambda_handler(SCHEDULE, FakeLambdaContext(function_name="providers")))


def test_scheduled_check_records_health_and_primary(providers_fn: ModuleType, dynamodb: Any) -> None:
    result = check(providers_fn)
    assert result == {"checked": {"tempo": "healthy", "circle": "healthy"}, "primary": "tempo"}
    health = {i["pk"]["S"]: i for i in items(dynamodb, "PROVIDER#") if i["sk"]["S"] == "HEALTH"}
    assert set(health) == {"PROVIDER#tempo", "PROVIDER#circle"}
    tempo = health["PROVIDER#tempo"]
    assert tempo["status"]["S"] == "healthy" and tempo["checked_at"]["S"] == "2030-01-01T00:00:00.000Z"
    assert tempo["success_rate"]["N"] == "1.0000" and "tps" in tempo and tempo["version"]["N"] == "1"
    assert "tps" not in health["PROVIDER#circle"]  # Circle's ping reports no throughput
    primary = items(dynamodb, "PROVIDERS")[0]
    assert (primary["sk"]["S"], primary["name"]["S"], primary["reason"]["S"]) == (
        "PRIMARY",
        "tempo",
        "initial election",
    )


def test_tempo_down_switches_primary_with_outbox_event_and_metric(
    providers_fn: ModuleType,
    dynamodb: Any,
    controls: dict[str, httpx.Client],
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    check(providers_fn)
    capsys.readouterr()
    controls["tempo"].post("/_control/down")
    clock.advance(minutes=1)
    assert check(providers_fn)["primary"] == "circle"
    outbox = {i["event_name"]["S"]: i for i in items(dynamodb, "OUTBOX#")}
    switched = outbox["provider:switched"]["data"]["M"]
    assert (switched["from"]["S"], switched["to"]["S"], switched["reason"]["S"]) == (
        "tempo",
        "circle",
        "tempo down",
    )
    assert [c["S"] for c in outbox["provider:switched"]["channels"]["L"]] == ["admin", "platform"]
    changes = [
        i["data"]["M"] for i in items(dynamodb, "OUTBOX#") if i["event_name"]["S"] == "provider.statusChange"
    ]
    assert len(changes) == 3  # tempo and circle first seen healthy, then tempo down
    down = [c for c in changes if c["to"]["S"] == "down"]
    assert len(down) == 1 and (down[0]["provider"]["S"], down[0]["from"]["S"]) == ("tempo", "healthy")
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if "ProviderFailover" in line
    ]
    assert len(emitted) == 1 and emitted[0]["ProviderFailover"] == [1.0]

    controls["tempo"].post("/_control/up")
    clock.advance(minutes=1)
    assert check(providers_fn)["primary"] == "tempo"
    assert len([i for i in items(dynamodb, "OUTBOX#") if i["event_name"]["S"] == "provider:switched"]) == 2


def test_v1_health_lists_recorded_providers(
    providers_fn: ModuleType, controls: dict[str, httpx.Client]
) -> None:
    controls["circle"].post("/_control/down")
    check(providers_fn)
    controls["circle"].post("/_control/up")  # the views show what was recorded, not a live probe
    response = providers_fn.lambda_handler(
        api_event("GET", "/api/v1/providers/health", principal=CONSUMER), FakeLambdaContext()
    )
    assert response["statusCode"] == 200
    listed = {p["name"]: p for p in body_of(response)["data"]["providers"]}
    assert listed["tempo"]["status"] == "healthy" and listed["tempo"]["successRate"] == 1.0
    assert isinstance(listed["tempo"]["latency"], int)
    assert listed["circle"]["status"] == "down" and listed["circle"]["successRate"] == 0.0


def test_v2_status_shows_both_and_the_primary(providers_fn: ModuleType, clock: FixedClock) -> None:
    before = body_of(
        providers_fn.lambda_handler(
            api_event("GET", "/api/v2/provider-health/status", principal=CONSUMER), FakeLambdaContext()
        )
    )["data"]
    # Nothing recorded yet: unknown (never down), and the primary is the first of the configured order.
    assert before["tempo"]["status"] == before["circle"]["status"] == "unknown"
    assert before["primary"] == "tempo"
    v1 = body_of(
        providers_fn.lambda_handler(
            api_event("GET", "/api/v1/providers/health", principal=CONSUMER), FakeLambdaContext()
        )
    )["data"]
    assert [p["status"] for p in v1["providers"]] == ["unknown", "unknown"]
    check(providers_fn)
    data = body_of(
        providers_fn.lambda_handler(
            api_event("GET", "/api/v2/provider-health/status", principal=CONSUMER), FakeLambdaContext()
        )
    )["data"]
    assert data["primary"] == "tempo" and data["timestamp"] == "2030-01-01T00:00:00.000Z"
    assert (
        data["tempo"]["status"] == "healthy"
        and data["tempo"]["tps"] == 0.0
        and data["tempo"]["error_rate"] == 0.0
    )
    assert data["circle"]["tps"] is None and data["circle"]["error_rate"] == 0.0


def test_views_need_a_caller(providers_fn: ModuleType) -> None:
    response = providers_fn.lambda_handler(
        api_event("GET", "/api/v1/providers/health", principal=None), FakeLambdaContext()
    )
    assert response["statusCode"] == 401 and body_of(response)["code"] == "unauthorized"


def history(handler: ModuleType, principal: dict[str, str], **query: str) -> dict[str, Any]:
    event = api_event("GET", "/api/v2/provider-health/history", principal=principal, query=query or None)
    return dict(handler.lambda_handler(event, FakeLambdaContext()))


def test_history_lists_every_check_and_primary_change_newest_first_for_operators(
    providers_fn: ModuleType, controls: dict[str, httpx.Client], clock: FixedClock
) -> None:
    check(providers_fn)
    controls["tempo"].post("/_control/down")
    clock.advance(minutes=1)
    check(providers_fn)
    answer = history(providers_fn, OPERATOR)
    assert answer["statusCode"] == 200, answer["body"]
    entries = body_of(answer)["data"]["history"]
    # Two checks of two providers, the initial election and the switch to circle.
    assert len(entries) == 6 and body_of(answer)["data"]["has_more"] is False
    stamps = [e.get("checked_at") or e.get("changed_at") for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    (switch,) = [e for e in entries if e["type"] == "primary_change" and e["from"] == "tempo"]
    assert (switch["to"], switch["reason"], switch["changed_at"]) == (
        "circle",
        "tempo down",
        "2030-01-01T00:01:00.000Z",
    )
    tempo_down = next(e for e in entries if e["type"] == "check" and e["provider"] == "tempo")
    assert tempo_down["status"] == "down" and tempo_down["checked_at"] == "2030-01-01T00:01:00.000Z"
    assert set(tempo_down) == {"type", "provider", "status", "latency_ms", "error_rate", "tps", "checked_at"}

    first = body_of(history(providers_fn, OPERATOR, limit="4"))["data"]
    rest = body_of(history(providers_fn, OPERATOR, limit="4", cursor=first["next_cursor"]))["data"]
    assert first["has_more"] and not rest["has_more"]
    assert first["history"] + rest["history"] == entries
    bad = history(providers_fn, OPERATOR, cursor="bm90LWEtY3Vyc29y")
    assert (bad["statusCode"], body_of(bad)["code"]) == (400, "validation_error")


@pytest.mark.parametrize("principal", [ADMIN, MERCHANT, CONSUMER])
def test_history_is_the_operators_alone(providers_fn: ModuleType, principal: dict[str, str]) -> None:
    check(providers_fn)
    answer = history(providers_fn, principal)
    assert (answer["statusCode"], body_of(answer)["code"]) == (403, "forbidden")
