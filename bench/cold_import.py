"""Cold import of each functions/*/handler.py as a ratio to a bare `import boto3` in the same run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 5
# The money-moving functions of issue 5, reported again on their own, with whether `stripe` (a heavy
# import, wanted only where a Stripe call is made) is already loaded when the handler module is.
FUNDING_FUNCTIONS = ("fund", "webhooks", "reconcile")


def _time_import(code: str, path: list[str], env: dict[str, str]) -> float:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path[:0] = {path!r}; {code}"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run() -> dict[str, float]:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="MonayWallets",
        POWERTOOLS_METRICS_DISABLED="true",
        # What the stack sets; handlers wire their adapters at import, as in Lambda's init phase.
        TABLE_NAME="WalletsTable",
        EVENT_BUS_NAME="bus",
        KMS_KEY_ID="key",
        JWT_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt",
        APP_SECRET_ARN="arn:aws:secretsmanager:us-east-1:123456789012:secret:app",
        WS_CALLBACK_URL="https://ws.example/prod",
        # Functions with `stablecoins` get the providers' base URLs (adapters are still built lazily).
        TEMPO_API_BASE="https://tempo.example",
        CIRCLE_API_BASE="https://api-sandbox.circle.com",
    )
    baseline = _time_import("import boto3", [], env)
    ratios: dict[str, float] = {}
    print(f"cold import (median of {REPEAT}), ratio to `import boto3` ({baseline * 1000:.0f} ms):")
    for handler in sorted(ROOT.glob("functions/*/handler.py")):
        name = handler.parent.name
        seconds = _time_import("import handler", [str(handler.parent), str(ROOT)], env)
        ratios[name] = seconds / baseline
        print(f"  {name:<14} {seconds * 1000:7.0f} ms  {ratios[name]:5.2f}x  (target <= 1.6x)")
    print("funding functions (issue 5), ratio to `import boto3`:")
    for name in FUNDING_FUNCTIONS:
        folder = ROOT / "functions" / name
        verdict = "ok" if ratios[name] <= 1.6 else "OVER"
        print(
            f"  {name:<14} {ratios[name]:5.2f}x  {verdict:<4}  stripe imported at init: "
            f"{_imports_stripe(folder, env)}"
        )
    return ratios


def _imports_stripe(folder: Path, env: dict[str, str]) -> str:
    path = [str(folder), str(ROOT)]
    code = f"import sys; sys.path[:0] = {path!r}; import handler; print('stripe' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True)
    return "yes" if answer.stdout.decode().strip().endswith("True") else "no"


if __name__ == "__main__":
    run()
