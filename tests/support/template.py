"""Synthesize the stack once per test session and read resources out of the template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from local.runtime.template import with_nested_stacks

ROOT = Path(__file__).resolve().parents[2]
STACK_TEMPLATE = "MonayWallets.template.json"


def synth_outdir() -> Path:
    """This test process's synth folder: one per pytest-xdist worker, since two synths staging assets into
    one folder collide (EEXIST)."""
    return ROOT / ".cache" / f"cdk.out.test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def synthesize(outdir: Path, **context: str) -> None:
    """`app.py` into `outdir`, bundling skipped, with `context` beside cdk.json's."""
    env = dict(os.environ, CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    env["CDK_CONTEXT_JSON"] = json.dumps({"aws:cdk:bundling-stacks": [], **context})
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True)


@lru_cache(maxsize=1)
def synthesized_template() -> dict[str, Any]:
    """The local-mode template, bundling skipped (as `make run` and the tests use it), its nested stacks
    merged in as the local runtime reads it: a check of a resource holds wherever the resource lives."""
    outdir = synth_outdir()
    synthesize(outdir, **{"wallets:local": "true"})
    return with_nested_stacks(json.loads((outdir / STACK_TEMPLATE).read_text()), outdir)


def stack_templates(outdir: Path) -> dict[str, dict[str, Any]]:
    """Each template of a synthesized assembly as CloudFormation deploys it: the root and every nested one."""
    return {path.name: json.loads(path.read_text()) for path in sorted(outdir.glob("*.template.json"))}


def resources_of_type(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == type_name}


def table_properties(template: dict[str, Any], logical_prefix: str = "WalletsTable") -> dict[str, Any]:
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    matches = [r for lid, r in tables.items() if lid.startswith(logical_prefix)]
    if len(matches) != 1:
        raise LookupError(f"expected one table {logical_prefix}*, found {sorted(tables)}")
    return dict(matches[0]["Properties"])
