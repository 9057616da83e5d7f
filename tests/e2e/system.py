"""The project's system as `make run` starts it, and the request helpers its end-to-end tests share."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.e2e.conftest import ROOT, RunningRuntime, start_runtime
from tests.support.template import project_template

PROJECT_CONFIG = ROOT / "local" / "runtime.toml"


# This test process's shared systems at speed 1, by pool: started by their first user, stopped when the
# session ends (tests/e2e/conftest.py), so the files of one xdist worker start one system instead of one
# each (a start and the functions' cold imports behind the first requests cost tens of seconds on a
# loaded 2-core machine). Systems at other speeds are started per file: an idle one fires its minute
# rules every few real seconds and would load the machine for the rest of the session.
_SHARED: dict[str, RunningRuntime] = {}
_SHARED_STOPS: dict[str, ExitStack] = {}


@contextmanager
def project_system(
    folder: Path, speed: float = 1, *, own: bool = False, pool: str = "e2e"
) -> Iterator[RunningRuntime]:
    """The project's system at `speed`, as `make run` serves it.

    At speed 1, by default, the test process's shared system (of `pool`): a file using it keeps to its
    own tenants, users and ids and asserts nothing about platform-wide totals, since the files before it
    on this worker ran there too. `own=True` (and any other speed) starts a system for this block alone,
    for a file that needs a quiet platform (one that reconciles the whole reserve, say). `folder` holds
    the runtime's log and state (of a shared system: its first user's folder).
    """
    # Synthesized (if stale) here, before the runtime's start timeout runs.
    template = project_template()
    if own or speed != 1:
        with start_runtime(template, PROJECT_CONFIG, folder, speed=speed) as runtime:
            yield runtime
        return
    if pool not in _SHARED:
        stops = _SHARED_STOPS.setdefault(pool, ExitStack())
        _SHARED[pool] = stops.enter_context(start_runtime(template, PROJECT_CONFIG, folder))
    else:
        # Every file shares 127.0.0.1: its payment-link budget starts afresh, as on a system of its own.
        fresh_ip_windows(_SHARED[pool])
    yield _SHARED[pool]


def stop_shared_systems(*pools: str) -> None:
    """SIGTERM the shared systems of `pools`, or every one (each checks it exited cleanly, as start_runtime
    does); a later user of a pool starts it again."""
    for pool in pools or tuple(_SHARED_STOPS):
        _SHARED.pop(pool, None)
        stops = _SHARED_STOPS.pop(pool, None)
        if stops is not None:
            stops.close()


def token(system: RunningRuntime, **claims: Any) -> str:
    """An HS256 token signed with the runtime's secret: the demo merchant unless `claims` say otherwise."""
    body = {
        "sub": "usr_merchant_demo",
        "tenant_id": "ten_demo",
        "roles": ["merchant"],
        "exp": time.time() + 600,
    }
    body.update(claims)
    return jwt.encode(body, system.state["jwt_secret"], algorithm="HS256")


def set_tenant_limits(system: RunningRuntime, tenant_id: str, **limits: int) -> None:
    """Write a tenant's rate-limit overrides into the runtime's table, as an operator would. Functions read a
    tenant's limits at most once a minute, so use a tenant no request has named yet."""
    client = system.aws("dynamodb")
    table = next(name for name in client.list_tables()["TableNames"] if "WalletsTable" in name)
    item = {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "RATE_LIMITS"}}
    item.update({name: {"N": str(number)} for name, number in limits.items()})
    client.put_item(TableName=table, Item=item)


def fresh_ip_windows(system: RunningRuntime) -> None:
    """Start every source IP's rate-limit window afresh, as the next minute would: every test client and the
    browser share 127.0.0.1, whose payment-link budget (10 a minute, API.md Rate limits) a module of checkout
    tests spends in seconds. Deletes the `RATE#ip#...` counters and nothing else."""
    client = system.aws("dynamodb")
    table = next(name for name in client.list_tables()["TableNames"] if "WalletsTable" in name)
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            if item["pk"]["S"].startswith("RATE#ip#"):
                client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def auth(bearer: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}", **extra}


def invoice_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": "usr_consumer_demo",
        "currency": "USD",
        "due_date": "2026-12-31",
        "line_items": [
            {"description": "Design work", "quantity": 2, "unit_price": "150.00", "tax_rate": "8.25"},
            {"description": "Hosting", "quantity": 1, "unit_price": 19.99},
        ],
    }
    body.update(overrides)
    return body


def create_invoice(http: httpx.Client, bearer: str, **overrides: Any) -> httpx.Response:
    return http.post("/api/v1/invoices", json=invoice_body(**overrides), headers=auth(bearer))
