"""Cold import of each functions/*/handler.py as deployed, as a ratio to a bare `import boto3` in one run.

Each sample is a fresh interpreter whose environment is only what Lambda would give the function: its
Environment.Variables from the synthesized template (Ref / GetAtt replaced by plausible values) and the
variables the Lambda sandbox sets (region, function name, memory, handler, fake credentials). Tracing and
metrics are as deployed: nothing turns them off. The time is the `import` statement inside the process
(what the function's init adds to the runtime's own start), and the modules it left loaded tell which
heavy dependencies the function pays for before its first request.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.lambda_env import FunctionEnvironment, function_environments, lambda_sandbox_variables

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 5
TARGET = 1.6
HEAVY = (
    "boto3",
    "botocore",
    "pydantic",
    "aws_lambda_powertools.event_handler.openapi",
    "stripe",
    "httpx",
    "cryptography",
)
SHORT = {"aws_lambda_powertools.event_handler.openapi": "powertools.openapi"}

_CHILD = """
import json, sys, time
sys.path[:0] = {path!r}
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    heavy: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def deployed_environment(function: FunctionEnvironment, **extra: str) -> dict[str, str]:
    """The process environment of `function` in Lambda, plus `extra`; built from scratch (only PATH is
    taken from this process), so nothing of the bench's own environment leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **function.variables,
        **lambda_sandbox_variables(function),
        **extra,
    }


def child_command(module: str, path: list[str]) -> list[str]:
    return [sys.executable, "-c", _CHILD.format(path=path, module=module, heavy=HEAVY)]


def _sample(module: str, path: list[str], env: dict[str, str], into: Samples) -> None:
    if into.error is not None:
        return
    answer = subprocess.run(
        child_command(module, path), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if answer.returncode != 0:
        lines = answer.stderr.strip().splitlines() or [f"exit {answer.returncode}"]
        into.error = lines[-1][:160]
        return
    report = json.loads(answer.stdout.strip().splitlines()[-1])
    into.seconds.append(float(report["seconds"]))
    into.heavy = list(report["heavy"])


def heavy_column(modules: list[str]) -> str:
    return ", ".join(SHORT.get(m, m) for m in modules) or "none"


def run() -> dict[str, float]:
    from tests.support.template import synthesized_template

    functions = function_environments(synthesized_template())
    folders = sorted(p.parent.name for p in ROOT.glob("functions/*/handler.py"))
    reference = functions.get("health") or next(iter(functions.values()))
    baseline = Samples()
    samples = {folder: Samples() for folder in folders}
    # Interleaved rounds: a neighbour's load on the shared cores hits the baseline and the handlers alike.
    for _ in range(REPEAT):
        _sample("boto3", [], deployed_environment(reference), baseline)
        for folder in folders:
            if folder not in functions:
                samples[folder].error = "no AWS::Lambda::Function with this POWERTOOLS_SERVICE_NAME"
                continue
            path = [str(ROOT / "functions" / folder), str(ROOT)]
            _sample("handler", path, deployed_environment(functions[folder]), samples[folder])
    if baseline.error is not None or not baseline.seconds:
        print(f"  `import boto3` failed: {baseline.error}")
        return {}
    base = baseline.median
    print(
        f"  median of {REPEAT} fresh processes; env = template + Lambda's (python3.13 arm64 as deployed);"
        f" ratio to `import boto3` {base * 1000:.0f} ms, target <= {TARGET}x"
    )
    ratios: dict[str, float] = {}
    for folder in folders:
        result = samples[folder]
        if result.error is not None:
            print(f"  {folder:<14} error: {result.error}")
            continue
        ratios[folder] = result.median / base
        verdict = "ok" if ratios[folder] <= TARGET else "OVER"
        print(
            f"  {folder:<14} {result.median * 1000:6.0f} ms {ratios[folder]:5.2f}x {verdict:<4}"
            f"  heavy at init: {heavy_column(result.heavy)}"
        )
    return ratios


if __name__ == "__main__":
    run()
