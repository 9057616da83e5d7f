"""Synthesize the stack once per test session and read resources out of the template."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from local.runtime.config import RuntimeConfig, ensure_template
from local.runtime.template import with_nested_stacks

ROOT = Path(__file__).resolve().parents[2]
STACK_TEMPLATE = "MonayWallets.template.json"


PROJECT_CONFIG = ROOT / "local" / "runtime.toml"


def project_template() -> Path:
    """The local-mode template (bundling skipped), synthesized when a source changed, exactly as `make run`
    and every test runtime get it (local/runtime.toml's synth command, under its lock): one synth per
    checkout and change, shared by the test workers and the runtimes they start."""
    config = RuntimeConfig.load(PROJECT_CONFIG)
    assert config.template is not None
    ensure_template(config.template, config, logging.getLogger("tests.template"))
    return config.template


def synth_outdir() -> Path:
    """This test process's synth folder: one per pytest-xdist worker, since two synths staging assets into
    one folder collide (EEXIST). Not the runtime's folder: the runtime runs the staged assets and so writes
    __pycache__ into them, which the infra tests check the synth never stages."""
    return ROOT / ".cache" / f"cdk.out.test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@lru_cache(maxsize=1)
def local_template() -> dict[str, Any]:
    """The template `make run` serves (project_template()), its nested stacks merged in: what a test needs
    to build the table or read a function's environment. Shared on disk by every test worker and runtime
    and synthesized again only when a source changed, where synthesized_template() synthesizes once per
    process (the infra tests, which inspect their own staged assets, need that one)."""
    path = project_template()
    return with_nested_stacks(json.loads(path.read_text()), path.parent)


@lru_cache(maxsize=1)
def synthesized_template() -> dict[str, Any]:
    """The local-mode template, bundling skipped (as `make run` and the tests use it), its nested stacks
    merged in as the local runtime reads it: a check of a resource holds wherever the resource lives."""
    outdir = synth_outdir()
    env = dict(os.environ, CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1")
    context = {"aws:cdk:bundling-stacks": [], "wallets:local": "true"}
    env["CDK_CONTEXT_JSON"] = json.dumps(context)
    subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, check=True)
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
