"""`make run` start to /health 200, a request through the local runtime vs the handler called directly, the
runtime's throughput of invoice creates at concurrency 8, and the CPU the runtime burns when idle."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.client
import httpx

from bench.support import load_handler, median_seconds, restored_process_state
from local.runtime.config import RuntimeConfig
from tests.e2e.conftest import start_runtime
from tests.integration.conftest import FakeLambdaContext, api_event

CONFIG = Path(__file__).resolve().parents[1] / "local" / "runtime.toml"
REPEAT = 40
CREATES = 200
CONCURRENCY = 8
IDLE_SECONDS = 10.0
# Before the idle window: the creates' stream, rule and schedule work winds down (a second using less than
# this share of a core), or this long at most.
SETTLED_SHARE = 0.3
MAX_SETTLE_SECONDS = 30.0
BODY = {
    "customer_id": "usr_bench",
    "currency": "USD",
    "due_date": "2026-12-31",
    "line_items": [{"description": "Bench", "quantity": 1, "unit_price": "10.00"}],
}
PRINCIPAL = {"sub": "usr_merchant_demo", "tenant_id": "ten_demo", "roles": "merchant"}


def direct_handler(moto_url: str, table_name: str) -> ModuleType:
    """The invoices handler in this process, talking to the runtime's moto like its worker does.

    Changes os.environ and the settings cache: call it inside `restored_process_state()`.
    """
    os.environ.update(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        TABLE_NAME=table_name,
        POWERTOOLS_SERVICE_NAME="invoices",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    from shared.config import get_settings

    get_settings.cache_clear()
    return load_handler("invoices")


@contextmanager
def timed_aws_calls() -> Iterator[list[float]]:
    """Seconds spent in each botocore API call made in this process while the block runs."""
    original = botocore.client.BaseClient._make_api_call
    spent: list[float] = []

    def timed(client: Any, operation: str, params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return original(client, operation, params)
        finally:
            spent.append(time.perf_counter() - started)

    botocore.client.BaseClient._make_api_call = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (its own threads, not its children)."""
    try:
        import psutil
    except ImportError:
        # /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks; the name (2) may hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def idle_cpu_seconds(pid: int) -> float:
    """CPU seconds the runtime process uses over IDLE_SECONDS with no requests, once earlier work settled."""
    deadline = time.monotonic() + MAX_SETTLE_SECONDS
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - before < SETTLED_SHARE:
            break
        before = now
    before = cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    return cpu_seconds(pid) - before


def _ok(response: httpx.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text


def _throughput(url: str, headers: dict[str, str]) -> tuple[float, list[float]]:
    """CREATES invoice creates from CONCURRENCY threads, each with its own keep-alive connection."""
    latencies: list[float] = []

    def creates(count: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(count):
                started = time.perf_counter()
                _ok(client.post("/api/v1/invoices", json=BODY, headers=headers), 201)
                latencies.append(time.perf_counter() - started)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(creates, [1] * CONCURRENCY))  # every worker of the function's pool started
        latencies.clear()
        started = time.perf_counter()
        list(pool.map(creates, [CREATES // CONCURRENCY] * CONCURRENCY))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def _percentile(samples: list[float], fraction: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(fraction * len(samples)))]


def _through_runtime(url: str, headers: dict[str, str], path: str) -> dict[str, float]:
    def get(client: httpx.Client) -> Callable[[], None]:
        return lambda: _ok(client.get(path, headers=headers))

    def post(client: httpx.Client) -> Callable[[], None]:
        return lambda: _ok(client.post("/api/v1/invoices", json=BODY, headers=headers), 201)

    # A fresh TCP connection per request, without httpx building a new client (an SSL context) each time.
    fresh = httpx.Limits(max_keepalive_connections=0)
    with (
        httpx.Client(base_url=url, timeout=30) as keep_alive,
        httpx.Client(base_url=url, timeout=30, limits=fresh) as one_shot,
    ):
        get(keep_alive)()  # warm worker and authorizer cache, as the direct side is
        return {
            "get_keep_alive": median_seconds(get(keep_alive), REPEAT),
            "get_fresh": median_seconds(get(one_shot), REPEAT),
            "post_keep_alive": median_seconds(post(keep_alive), REPEAT // 2),
            "post_fresh": median_seconds(post(one_shot), REPEAT // 2),
        }


def _direct(moto_url: str, table: str, invoice_id: str) -> dict[str, float]:
    with restored_process_state():
        handler = direct_handler(moto_url, table)

        def get() -> None:
            event = api_event("GET", f"/api/v1/invoices/{invoice_id}", principal=PRINCIPAL)
            event["resource"] = "/api/v1/invoices/{id}"
            event["pathParameters"] = {"id": invoice_id}
            answer = handler.lambda_handler(event, FakeLambdaContext())
            assert answer["statusCode"] == 200, answer

        def create() -> None:
            event = api_event("POST", "/api/v1/invoices", body=BODY, principal=PRINCIPAL)
            assert handler.lambda_handler(event, FakeLambdaContext())["statusCode"] == 201

        get()
        create()
        results = {"get": median_seconds(get, REPEAT)}
        results["post"] = median_seconds(create, REPEAT // 2)
        with timed_aws_calls() as spent:
            started = time.perf_counter()
            for _ in range(REPEAT // 2):
                create()
            results["post_mean"] = (time.perf_counter() - started) / (REPEAT // 2)
        results["post_aws_calls"] = len(spent) / (REPEAT // 2)
        results["post_aws_seconds"] = sum(spent) / (REPEAT // 2)
        return results


def run() -> dict[str, float]:
    template = RuntimeConfig.load(CONFIG).template
    assert template is not None
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with start_runtime(template, CONFIG, Path(folder)) as runtime:
            with httpx.Client(base_url=runtime.rest_url, timeout=30) as http:
                while http.get("/health").status_code != 200:
                    time.sleep(0.05)
                ready = time.perf_counter() - started
                headers = {"Authorization": f"Bearer {runtime.tokens['merchant']}"}
                created = http.post("/api/v1/invoices", json=BODY, headers=headers).json()["data"]["invoice"]
            path = f"/api/v1/invoices/{created['id']}"
            runtime_times = _through_runtime(runtime.rest_url, headers, path)
            table = next(
                n for n in runtime.aws("dynamodb").list_tables()["TableNames"] if "WalletsTable" in n
            )
            direct = _direct(runtime.moto_url, table, created["id"])
            rate, latencies = _throughput(runtime.rest_url, headers)
            idle_cpu = idle_cpu_seconds(runtime.process.pid)
    results = {
        "start_to_health_s": ready,
        "get_ratio": runtime_times["get_keep_alive"] / direct["get"],
        "get_fresh_ratio": runtime_times["get_fresh"] / direct["get"],
        "create_ratio": runtime_times["post_keep_alive"] / direct["post"],
        "create_fresh_ratio": runtime_times["post_fresh"] / direct["post"],
        "creates_per_second": rate,
        "idle_cpu_share": idle_cpu / IDLE_SECONDS,
    }
    ms = {name: seconds * 1000 for name, seconds in {**runtime_times, **direct}.items()}
    print(f"  make run start -> /health 200: {ready:.1f} s (target < 15 s)")
    print(
        f"  GET invoice: runtime {ms['get_keep_alive']:.1f} ms keep-alive, {ms['get_fresh']:.1f} ms fresh"
        f" connection vs direct handler {ms['get']:.1f} ms -> {results['get_ratio']:.2f}x,"
        f" {results['get_fresh_ratio']:.2f}x (target <= 2x)"
    )
    print(
        f"  POST invoice: runtime {ms['post_keep_alive']:.1f} ms keep-alive, {ms['post_fresh']:.1f} ms fresh"
        f" connection vs direct handler {ms['post']:.1f} ms -> {results['create_ratio']:.2f}x,"
        f" {results['create_fresh_ratio']:.2f}x (target <= 2x)"
    )
    print(
        f"  direct create: {direct['post_aws_calls']:.0f} DynamoDB calls to moto take"
        f" {ms['post_aws_seconds']:.1f} of its {ms['post_mean']:.1f} ms (means)"
    )
    print(
        f"  {CREATES} invoice creates at concurrency {CONCURRENCY}: {rate:.1f}/s,"
        f" p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {_percentile(latencies, 0.95) * 1000:.0f} ms"
        " (target >= 40/s)"
    )
    print(
        f"  idle runtime: {idle_cpu:.2f} CPU s over {IDLE_SECONDS:.0f} s with no requests"
        f" -> {results['idle_cpu_share']:.0%} of a core"
    )
    return results


if __name__ == "__main__":
    run()
