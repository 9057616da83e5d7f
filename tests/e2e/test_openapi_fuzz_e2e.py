"""Schema-driven fuzzing of the whole REST API: Schemathesis runs every operation of docs/openapi.json
against the local runtime, all four phases (examples, coverage, fuzzing, stateful through the document's
links), with every check but `unsupported_method` (tests/e2e/schemathesis.toml says why).

The operations are fuzzed in three parts that together cover the document once (a test checks that), each
a test of its own so pytest-xdist runs them on both workers: the invoice and wallet money flow (every
link of the document is between its operations, so the stateful phase walks them all), the consumer
routes, and the rest. The parts share one system per worker, apart from the other end-to-end files'.

New routes are fuzzed as soon as their function is in shared/openapi.py's DOCUMENTED_FUNCTIONS. The number
of examples per operation (WALLETS_FUZZ_EXAMPLES, default 10) keeps the run near a minute on 2 CPUs; raise
it for a deeper run, e.g. `WALLETS_FUZZ_EXAMPLES=25 pytest tests/e2e/test_openapi_fuzz_e2e.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT
from tests.e2e.system import project_system, token

DOC = ROOT / "docs" / "openapi.json"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
MAX_EXAMPLES = os.environ.get("WALLETS_FUZZ_EXAMPLES", "10")
SEED = os.environ.get("WALLETS_FUZZ_SEED", "20261202")
RUN_TIMEOUT = 480


def _schemathesis() -> str:
    return str(Path(sys.executable).with_name("st"))


# Each part: a regex over paths (Schemathesis `--include-path-regex`); the last part is every other path.
MONEY_FLOW = r"^/(api/v1/invoices|api/v2/invoice-wallets|api/v1/wallets|public/pay)(/|$)"
CONSUMER = r"^/api/consumer(/|$)"
PARTS = {"money-flow": MONEY_FLOW, "consumer": CONSUMER, "rest": None}


def _paths() -> dict[str, int]:
    return {path: len(item) for path, item in json.loads(DOC.read_text())["paths"].items()}


def _in_part(path: str, part: str) -> bool:
    pattern = PARTS[part]
    if pattern is not None:
        return re.search(pattern, path) is not None
    return not any(re.search(other, path) for other in PARTS.values() if other is not None)


def _selection(part: str) -> list[str]:
    pattern = PARTS[part]
    if pattern is not None:
        return ["--include-path-regex", pattern]
    # One alternation: Schemathesis keeps only the last of repeated --exclude-path-regex options.
    others = "|".join(f"(?:{other})" for other in PARTS.values() if other is not None)
    return ["--exclude-path-regex", others]


def test_the_parts_cover_every_operation_once() -> None:
    for path in _paths():
        assert [part for part in PARTS if _in_part(path, part)] in ([p] for p in PARTS), path
    assert all(any(_in_part(path, part) for path in _paths()) for part in PARTS), "a part fuzzes nothing"


# Each part is a unit of xdist work of its own (tests/conftest.py OWN_UNITS).
@pytest.mark.parametrize("part", list(PARTS))
def test_every_operation_answers_as_documented(part: str, tmp_path: Path) -> None:
    operations = sum(count for path, count in _paths().items() if _in_part(path, part))
    with project_system(tmp_path, pool="fuzz") as system:
        # Both roles, so the admin views are exercised beyond their 403.
        bearer = token(system, roles=["merchant", "admin"])
        try:
            result = subprocess.run(
                [
                    _schemathesis(),
                    "--config-file",
                    str(CONFIG),
                    "--no-color",
                    "run",
                    str(DOC),
                    *_selection(part),
                    "--url",
                    system.rest_url,
                    "--header",
                    f"Authorization: Bearer {bearer}",
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "unsupported_method",
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--max-examples",
                    MAX_EXAMPLES,
                    "--seed",
                    SEED,
                    # One request at a time per part: two parts run at once on the two test workers, as
                    # many requests in flight as the single run's two Schemathesis workers had.
                    "--workers",
                    "1",
                    "--max-response-time",
                    "25",
                    "--request-timeout",
                    "20",
                    "--report",
                    "junit",
                    "--report-dir",
                    str(tmp_path / "schemathesis"),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                env=dict(os.environ, SCHEMATHESIS_HOOKS=""),
            )
        except subprocess.TimeoutExpired as timeout:
            # What Schemathesis printed before the budget ran out says which phase and operation it was in.
            printed = timeout.stdout or b""
            partial = printed.decode(errors="replace") if isinstance(printed, bytes) else str(printed)
            raise AssertionError(f"the fuzzing run outlasted {RUN_TIMEOUT} s:\n{partial[-4000:]}") from None
        # Printed before the runtime stops, so the report survives a slow shutdown.
        output = result.stdout + result.stderr
        print(output[-4000:])
    tested = re.search(r"Tested:\s+(\d+)", output)
    assert tested and int(tested.group(1)) == operations, output[-20000:]
    assert result.returncode == 0, output[-20000:]
    assert re.search(r"Test cases:\s*\n\s*\d+ generated, \d+ passed", output), output[-4000:]
