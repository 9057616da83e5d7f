"""`make run` start to /health 200, and a request through the local runtime vs the handler called directly."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.support import load_handler, median_seconds
from local.runtime.config import RuntimeConfig
from tests.e2e.conftest import start_runtime
from tests.integration.conftest import FakeLambdaContext, api_event

CONFIG = Path(__file__).resolve().parents[1] / "local" / "runtime.toml"
REPEAT = 40
BODY = {
    "customer_id": "usr_bench",
    "currency": "USD",
    "due_date": "2026-12-31",
    "line_items": [{"description": "Bench", "quantity": 1, "unit_price": "10.00"}],
}


def _direct_handler(moto_url: str, table_name: str) -> Any:
    """The invoices handler in this process, talking to the runtime's moto like its worker does."""
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
                http.get(path, headers=headers)  # warm worker and authorizer cache, as the direct side is
                through_runtime = median_seconds(lambda: http.get(path, headers=headers), REPEAT)
                create_through_runtime = median_seconds(
                    lambda: http.post("/api/v1/invoices", json=BODY, headers=headers), REPEAT // 4
                )
            table = next(
                n for n in runtime.aws("dynamodb").list_tables()["TableNames"] if "WalletsTable" in n
            )
            handler = _direct_handler(runtime.moto_url, table)
            principal = {"sub": "usr_merchant_demo", "tenant_id": "ten_demo", "roles": "merchant"}

            def direct_get() -> None:
                event = api_event("GET", path, principal=principal)
                event["resource"] = "/api/v1/invoices/{id}"
                event["pathParameters"] = {"id": created["id"]}
                answer = handler.lambda_handler(event, FakeLambdaContext())
                assert answer["statusCode"] == 200, answer

            def direct_create() -> None:
                event = api_event("POST", "/api/v1/invoices", body=BODY, principal=principal)
                assert handler.lambda_handler(event, FakeLambdaContext())["statusCode"] == 201

            direct_get()
            direct = median_seconds(direct_get, REPEAT)
            create_direct = median_seconds(direct_create, REPEAT // 4)
    results = {
        "start_to_health_s": ready,
        "get_ratio": through_runtime / direct,
        "create_ratio": create_through_runtime / create_direct,
    }
    print(f"  make run start -> /health 200: {ready:.1f} s (target < 15 s)")
    print(
        f"  GET invoice: runtime {through_runtime * 1000:.1f} ms vs direct handler {direct * 1000:.1f} ms"
        f" -> {results['get_ratio']:.2f}x (target <= 2x)"
    )
    print(
        f"  POST invoice: runtime {create_through_runtime * 1000:.1f} ms"
        f" vs direct {create_direct * 1000:.1f} ms"
        f" -> {results['create_ratio']:.2f}x"
    )
    return results


if __name__ == "__main__":
    run()
