"""CDK app entry: synthesizes the `MonayWallets` stack and fails on any unsuppressed cdk-nag error."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from aws_cdk import cx_api

from infra.nag import apply_nag_checks
from infra.stack import STACK_NAME, MonayWalletsStack

# cx-api's ENABLE_ASSET_METADATA key (not exported to Python); the cdk CLI sets it, `python app.py` does not.
ASSET_METADATA_CONTEXT = "aws:cdk:enable-asset-metadata"


def main() -> int:
    # Asset metadata lets the local runtime find each function's staged folder from the template alone.
    app = cdk.App(context={ASSET_METADATA_CONTEXT: True})
    stack = MonayWalletsStack(app, STACK_NAME)
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
