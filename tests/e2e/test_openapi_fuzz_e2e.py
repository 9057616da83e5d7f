"""Schema-driven fuzzing of the whole REST API: Schemathesis runs every operation of docs/openapi.json
against the local runtime, all four phases (examples, coverage, fuzzing, stateful through the document's
links), with every check but `unsupported_method` (tests/e2e/schemathesis.toml says why).

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

from tests.e2e.conftest import ROOT
from tests.e2e.system import project_system, token

DOC = ROOT / "docs" / "openapi.json"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
MAX_EXAMPLES = os.environ.get("WALLETS_FUZZ_EXAMPLES", "10")
SEED = os.environ.get("WALLETS_FUZZ_SEED", "20261202")
RUN_TIMEOUT = 480


def _schemathesis() -> str:
    return str(Path(sys.executable).with_name("st"))


def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    operations = sum(len(item) for item in json.loads(DOC.read_text())["paths"].values())
    with project_system(tmp_path) as system:
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
                    "--workers",
                    "2",
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
