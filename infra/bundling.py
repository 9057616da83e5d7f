"""Docker-free bundling of the domain layer: pip wheels for Lambda's platform plus the `shared` package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAYER_REQUIREMENTS = PROJECT_ROOT / "requirements" / "layer.txt"
DOMAIN_PACKAGE = PROJECT_ROOT / "shared"

# What the functions and the layer run on. python3.13 runs on Amazon Linux 2023 (glibc 2.34); manylinux2014
# (glibc 2.17) wheels load there, and every pin of requirements/layer.txt publishes one for cp313 aarch64.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_13
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_PLATFORM = "manylinux2014_aarch64"

# Never used: CDK requires an image even when local bundling always succeeds. It names the image Docker
# would use so that a misconfigured machine fails loudly instead of producing a different artifact.
FALLBACK_IMAGE = "public.ecr.aws/sam/build-python3.13:latest-arm64"

_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


@jsii.implements(cdk.ILocalBundling)
class LayerLocalBundler:
    """Builds `python/` for a LayerVersion on this machine (CDK's ILocalBundling), without Docker.

    pip is asked for binary wheels of Lambda's platform and Python version, so the result does not depend
    on the machine that builds it.
    """

    def __init__(
        self,
        requirements: Path = LAYER_REQUIREMENTS,
        package_dir: Path = DOMAIN_PACKAGE,
        python: str = sys.executable,
    ) -> None:
        self._requirements = requirements
        self._package_dir = package_dir
        self._python = python

    def pip_command(self, target: Path) -> list[str]:
        return [
            self._python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "-r",
            str(self._requirements),
            "--platform",
            LAMBDA_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--implementation",
            "cp",
            "--target",
            str(target),
        ]

    def try_bundle(self, output_dir: str, options: cdk.BundlingOptions | None = None, **_kw: Any) -> bool:
        """jsii passes the asset's BundlingOptions positionally; this bundler needs none of them."""
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        # A fixed argv (this interpreter's pip, no shell): nothing in it comes from outside the project.
        result = subprocess.run(self.pip_command(target), capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            # Returning False would make CDK fall back to Docker, which this project never uses: fail here
            # with pip's own explanation instead.
            raise RuntimeError(f"layer bundling failed (pip exit {result.returncode}):\n{result.stderr}")
        shutil.copytree(self._package_dir, target / self._package_dir.name, ignore=_COPY_IGNORE)
        return True


def layer_bundling_options(bundler: LayerLocalBundler | None = None) -> cdk.BundlingOptions:
    return cdk.BundlingOptions(
        image=cdk.DockerImage.from_registry(FALLBACK_IMAGE),
        local=bundler or LayerLocalBundler(),
    )


# Glob patterns (CDK's default ignore mode, later `!` patterns re-include) that reduce the project root to
# the domain package (`*` skips no dot-folder, hence `.*`): with bundling skipped, the staged layer
# asset is `shared/` at its root.
LAYER_SOURCE_EXCLUDES = ["*", ".*", "!shared", "!shared/**", "**/__pycache__", "**/*.pyc"]
# Bundled, the source fingerprint must also change when the pinned requirements change.
BUNDLED_LAYER_SOURCE_EXCLUDES = [*LAYER_SOURCE_EXCLUDES, "!requirements", "!requirements/layer.txt"]

FUNCTION_SOURCE_EXCLUDES = ["__pycache__", "*.pyc"]


def layer_code(bundling_required: bool) -> lambda_.Code:
    """The layer's code asset: bundled for deploys, a staged copy of `shared/` when bundling is skipped."""
    if not bundling_required:
        # Passing `bundling` while the stack skips bundling would stage the whole project root unfiltered.
        return lambda_.Code.from_asset(str(PROJECT_ROOT), exclude=LAYER_SOURCE_EXCLUDES)
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        exclude=BUNDLED_LAYER_SOURCE_EXCLUDES,
        asset_hash_type=cdk.AssetHashType.SOURCE,
        bundling=layer_bundling_options(),
    )


def function_code(folder: Path) -> lambda_.Code:
    return lambda_.Code.from_asset(str(folder), exclude=FUNCTION_SOURCE_EXCLUDES)
