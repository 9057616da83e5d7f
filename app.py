"""CDK app entry: synthesizes the `MonayWallets` stack and fails on any unsuppressed cdk-nag error."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import cx_api

from infra.checkov import apply_checkov_findings
from infra.nag import apply_nag_checks
from infra.stack import STACK_NAME, MonayWalletsStack

# cx-api's ENABLE_ASSET_METADATA key (not exported to Python); the cdk CLI sets it, `python app.py` does not.
ASSET_METADATA_CONTEXT = "aws:cdk:enable-asset-metadata"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def context_from(argv: list[str]) -> dict[str, Any]:
    """cdk.json's context, then `-c key=value` as the cdk CLI takes it: `make synth` (which runs this file
    without the CLI) synthesizes what `cdk deploy` would. The CLI's own CDK_CONTEXT_JSON still wins."""
    parser = argparse.ArgumentParser(prog="app.py", description="Synthesize the MonayWallets stack.")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    pairs = [item.split("=", 1) for item in parser.parse_args(argv).context]
    if any(len(pair) != 2 for pair in pairs):
        parser.error("context is KEY=VALUE")
    return {**json.loads(CDK_JSON.read_text()).get("context", {}), **dict(pairs)}


def main(argv: list[str] | None = None) -> int:
    # Asset metadata lets the local runtime find each function's staged folder from the template alone.
    context = context_from(sys.argv[1:] if argv is None else argv)
    app = cdk.App(context={**context, ASSET_METADATA_CONTEXT: True})
    stack = MonayWalletsStack(app, STACK_NAME)
    apply_checkov_findings(stack, stack.security.key)
    apply_nag_checks(app, stack)
    try:
        assembly = app.synth()
    except RuntimeError as failure:
        # cdk-nag findings without an acknowledgement: the report above names each one.
        if "ValidationFailed" not in str(failure):
            raise
        print("synth failed: unacknowledged cdk-nag findings (see the report above)", file=sys.stderr)
        return 1
    errors = [
        f"{message.id}: {message.entry.data}"
        for artifact in assembly.stacks
        for message in artifact.messages
        if message.level == cx_api.SynthesisMessageLevel.ERROR
    ]
    for error in errors:
        print(f"[error] {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
