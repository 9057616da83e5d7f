"""The webhook_endpoints function on moto: create (secret once), read, list, patch, delete, rotation,
URL rules (deployed and local), unknown event names, the per-tenant cap, and tenants kept apart."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
import pytest

from shared import bootstrap
from shared.bootstrap import Adapters
from shared.clock import FixedClock
from shared.config import get_settings
from tests.integration.conftest import (
    CONSUMER,
    OTHER_MERCHANT,
    TABLE,
    FakeLambdaContext,
    api_event,
    body_of,
    header,
    scan_all,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
BASE = "/api/v1/webhook-endpoints"
HOSTS = {
    "hooks.example.com": ["93.184.216.34"],
    "rebind.example.com": ["10.0.0.7"],
    "mixed.example.com": ["93.184.216.34", "169.254.169.254"],
    "localhost": ["127.0.0.1"],
}
VALID = {"url": "https://hooks.example.com/monay", "enabled_events": ["invoice.paid", "wallet:funded"]}


class Resolver:
    def __init__(self) -> None:
        self.hosts = dict(HOSTS)

    def resolve(self, host: str) -> list[str]:
        if host.replace(".", "").isdigit() or ":" in host:
            return [host.strip("[]")]
        return list(self.hosts.get(host, []))


class World:
    def __init__(self, dynamodb: Any, webhook_key_id: str, *, loopback: bool) -> None:
        import functions.webhook_endpoints.handler as handler

        self.handler = handler
        self.dynamodb = dynamodb
        self.key_id = webhook_key_id
        self.clock = FixedClock(T0)
        settings = get_settings().model_copy(
            update={"webhook_allow_loopback": loopback, "webhook_key_id": webhook_key_id}
        )
        bootstrap.use(Adapters(settings, dynamodb=dynamodb, clock=self.clock, address_resolver=Resolver()))

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self.handler.lambda_handler(api_event(method, path, **kwargs), FakeLambdaContext()))

    def create(self, body: Any = VALID, **kwargs: Any) -> dict[str, Any]:
        return self.call("POST", BASE, body=body, **kwargs)

    def endpoints(self) -> list[dict[str, Any]]:
        return [i for i in scan_all(self.dynamodb) if i["pk"]["S"].startswith("WHEP#")]


@pytest.fixture
def world(dynamodb: Any, webhook_key_id: str) -> Iterator[World]:
    yield World(dynamodb, webhook_key_id, loopback=False)


@pytest.fixture
def local_world(dynamodb: Any, webhook_key_id: str) -> Iterator[World]:
    yield World(dynamodb, webhook_key_id, loopback=True)


def test_create_answers_the_secret_once_and_reads_never_do(world: World) -> None:
    response = world.create({**VALID, "description": "orders", "resource_id": "inv_" + "a" * 24})
    assert response["statusCode"] == 201
    created = body_of(response)["data"]
    assert created["secret"].startswith("whsec_")
    import base64

    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["id"].startswith("we_") and created["enabled"] is True
    assert created["enabled_events"] == VALID["enabled_events"]
    assert created["resource_id"] == "inv_" + "a" * 24
    read = world.call("GET", f"{BASE}/{created['id']}")
    assert read["statusCode"] == 200
    assert "secret" not in body_of(read)["data"] and "secret" not in read["body"]
    listed = body_of(world.call("GET", BASE))["data"]
    assert [e["id"] for e in listed["webhook_endpoints"]] == [created["id"]]
    assert created["secret"] not in str(listed)


def test_patch_changes_fields_and_refuses_bad_ones(world: World) -> None:
    endpoint_id = body_of(world.create())["data"]["id"]
    path = f"{BASE}/{endpoint_id}"
    patched = world.call("PATCH", path, body={"enabled": False, "enabled_events": ["*"]})
    assert patched["statusCode"] == 200
    data = body_of(patched)["data"]
    assert (data["enabled"], data["enabled_events"]) == (False, ["*"])
    for bad in ({}, {"enabled": None}, {"url": "http://hooks.example.com/x"}, {"enabled_events": ["nope"]}):
        response = world.call("PATCH", path, body=bad)
        assert response["statusCode"] == 400, bad
        assert body_of(response)["code"] == "validation_error"
    assert body_of(world.call("GET", path))["data"]["enabled"] is False
    assert world.call("PATCH", path, body={"secret": "x"})["statusCode"] == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "url": "not a url"}, "url"),
        ({**VALID, "url": "http://hooks.example.com/x"}, "url"),
        ({**VALID, "url": "https://rebind.example.com/x"}, "url"),
        ({**VALID, "url": "https://mixed.example.com/x"}, "url"),
        ({**VALID, "url": "https://127.0.0.1:8080/x"}, "url"),
        ({**VALID, "url": "https://[::1]/x"}, "url"),
        ({**VALID, "url": "https://unknown.example.com/x"}, "url"),
        ({**VALID, "url": "https://user:pw@hooks.example.com/x"}, "url"),
        ({**VALID, "url": "ftp://hooks.example.com/x"}, "url"),
        ({**VALID, "enabled_events": ["invoice.payed"]}, "enabled_events"),
        ({**VALID, "enabled_events": []}, "enabled_events"),
        ({**VALID, "enabled_events": ["*", "invoice.paid"]}, "enabled_events"),
        ({**VALID, "resource_id": "cus_x"}, "resource_id"),
        ({**VALID, "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(world: World, body: dict[str, Any], field: str) -> None:
    response = world.create(body)
    assert response["statusCode"] == 400, response["body"]
    assert body_of(response)["code"] == "validation_error"
    assert field in response["body"]
    assert world.endpoints() == []


def test_locally_loopback_http_is_allowed_but_not_private_addresses(local_world: World) -> None:
    assert local_world.create({**VALID, "url": "http://127.0.0.1:9999/hook"})["statusCode"] == 201
    assert local_world.create({**VALID, "url": "http://localhost:9999/hook"})["statusCode"] == 201
    assert local_world.create({**VALID, "url": "http://rebind.example.com/hook"})["statusCode"] == 400


def test_families_and_star_are_accepted(world: World) -> None:
    assert world.create({**VALID, "enabled_events": ["payout.*", "import.completed"]})["statusCode"] == 201
    assert world.create({**VALID, "enabled_events": ["*"]})["statusCode"] == 201


def test_rotation_keeps_the_old_secret_for_a_day(world: World) -> None:
    created = body_of(world.create())["data"]
    rotated = world.call("POST", f"{BASE}/{created['id']}/rotate-secret")
    assert rotated["statusCode"] == 200
    fresh = body_of(rotated)["data"]["secret"]
    assert fresh.startswith("whsec_") and fresh != created["secret"]
    service = bootstrap.app().webhook_endpoints
    endpoint = service.get(_merchant(), created["id"])

    def live(at: datetime) -> list[str]:
        return [s.text(endpoint.id, service) for s in endpoint.live_secrets(at)]

    assert live(T0) == [created["secret"], fresh]
    from datetime import timedelta

    assert live(T0 + timedelta(hours=24, seconds=1)) == [fresh]


def test_delete_frees_a_place_under_the_cap(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    service = bootstrap.app().webhook_endpoints
    monkeypatch.setattr(service, "_cap", 2)
    first = body_of(world.create())["data"]["id"]
    assert world.create()["statusCode"] == 201
    refused = world.create()
    assert refused["statusCode"] == 400
    assert body_of(refused)["code"] == "limit_exceeded"
    assert len(world.endpoints()) == 2
    deleted = world.call("DELETE", f"{BASE}/{first}")
    assert deleted["statusCode"] == 200
    assert body_of(deleted)["data"] == {"id": first, "deleted": True}
    assert world.call("GET", f"{BASE}/{first}")["statusCode"] == 404
    assert world.create()["statusCode"] == 201


def test_tenants_and_roles_are_kept_apart(world: World) -> None:
    endpoint_id = body_of(world.create())["data"]["id"]
    for method in ("GET", "DELETE"):
        response = world.call(method, f"{BASE}/{endpoint_id}", principal=OTHER_MERCHANT)
        assert response["statusCode"] == 404
    assert (
        world.call("PATCH", f"{BASE}/{endpoint_id}", body={"enabled": False}, principal=OTHER_MERCHANT)[
            "statusCode"
        ]
        == 404
    )
    assert (
        world.call("POST", f"{BASE}/{endpoint_id}/rotate-secret", principal=OTHER_MERCHANT)["statusCode"]
        == 404
    )
    assert body_of(world.call("GET", BASE, principal=OTHER_MERCHANT))["data"]["webhook_endpoints"] == []
    assert world.create(principal=CONSUMER)["statusCode"] == 403
    assert world.call("GET", f"{BASE}/we_nope")["statusCode"] == 404


def _merchant() -> Any:
    from shared.auth import principal_from_event

    return principal_from_event(api_event("GET", BASE))


def _table_text(world: World) -> str:
    return json.dumps(scan_all(world.dynamodb), default=str)


def test_secrets_are_stored_sealed_and_an_idempotent_replay_opens_the_same_one(world: World) -> None:
    headers = {"Idempotency-Key": "create-hooks-1"}
    first = world.create(headers=headers)
    created = body_of(first)["data"]
    again = world.create(headers=headers)
    assert again["statusCode"] == 201 and header(again, "Idempotent-Replayed") == "true"
    assert body_of(again)["data"] == created
    rotated = world.call(
        "POST", f"{BASE}/{created['id']}/rotate-secret", headers={"Idempotency-Key": "rot-1"}
    )
    fresh = body_of(rotated)["data"]["secret"]
    # Neither the endpoint item nor the idempotency records hold a secret in clear, nor its key bytes.
    text = _table_text(world)
    for secret in (created["secret"], fresh):
        assert secret not in text and secret.removeprefix("whsec_") not in text
    (item,) = world.endpoints()
    stored = item["secrets"]["L"]
    assert [sorted(s["M"]) for s in stored] == [
        ["created_at", "expires_at", "sealed"],
        ["created_at", "sealed"],
    ]


def test_a_sealed_secret_opens_only_for_its_own_endpoint(world: World) -> None:
    first = body_of(world.create())["data"]["id"]
    second = body_of(world.create())["data"]["id"]
    service = bootstrap.app().webhook_endpoints
    sealed = service.get(_merchant(), first).secrets[0].sealed
    # A fresh process (no secret remembered): KMS checks the endpoint id bound into the ciphertext.
    bootstrap.use(
        Adapters(get_settings().model_copy(update={"webhook_key_id": world.key_id}), dynamodb=world.dynamodb)
    )
    opener = bootstrap.app().webhook_endpoints
    assert opener.open(first, sealed).startswith("whsec_")
    with pytest.raises(botocore.exceptions.ClientError):
        opener.open(second, sealed)


def test_a_secret_stored_in_clear_before_sealing_keeps_signing_and_is_sealed_on_the_next_change(
    world: World,
) -> None:
    endpoint_id = body_of(world.create())["data"]["id"]
    legacy = "whsec_" + base64.b64encode(b"k" * 32).decode()
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"WHEP#{endpoint_id}"}, "sk": {"S": "ENDPOINT"}},
        UpdateExpression="SET secrets = :s",
        ExpressionAttributeValues={
            ":s": {"L": [{"M": {"value": {"S": legacy}, "created_at": {"S": "2029-12-01T00:00:00.000Z"}}}]}
        },
    )
    service = bootstrap.app().webhook_endpoints
    (secret,) = service.get(_merchant(), endpoint_id).live_secrets(T0)
    assert secret.text(endpoint_id, service) == legacy
    assert world.call("PATCH", f"{BASE}/{endpoint_id}", body={"enabled": True})["statusCode"] == 200
    assert legacy not in _table_text(world)
    (resealed,) = service.get(_merchant(), endpoint_id).live_secrets(T0)
    assert resealed.legacy_value is None and resealed.text(endpoint_id, service) == legacy
