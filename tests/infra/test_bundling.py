"""The Docker-free layer bundler, run through the same class on a tiny requirements file (needs PyPI)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from infra.bundling import (
    BUNDLED_LAYER_SOURCE_EXCLUDES,
    LAMBDA_PLATFORM,
    LAYER_REQUIREMENTS,
    LayerLocalBundler,
)

# A wheel's file name ends in `-{python tag}-{abi tag}-{platform tag}.whl` (PEP 427); tags may be dotted sets.
WHEEL_TAGS = re.compile(r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$")


def loads_on_cp313(python_tags: str, abi: str) -> bool:
    """Pure Python 3, CPython 3.13's own ABI, or the stable ABI of an earlier CPython 3."""
    return any(
        tag == "py3" or (tag == "cp313" and abi == "cp313") or (tag.startswith("cp3") and abi == "abi3")
        for tag in python_tags.split(".")
    )


def normalized(name: str) -> str:
    """PEP 503's comparable form of a project name (`aws_lambda_powertools` == `aws-lambda-powertools`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_bundler_installs_wheels_for_lambda_and_copies_the_package(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("base58==2.1.1\n")
    package = tmp_path / "src" / "shared"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Domain."""\n')
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.pyc").write_bytes(b"\0")
    output = tmp_path / "out"

    assert LayerLocalBundler(requirements=requirements, package_dir=package).try_bundle(str(output)) is True

    python = output / "python"
    assert (python / "shared" / "__init__.py").read_text() == '"""Domain."""\n'
    assert not (python / "shared" / "__pycache__").exists()
    assert (python / "base58" / "__init__.py").is_file()
    assert (python / "base58-2.1.1.dist-info").is_dir()


def test_pip_is_asked_for_lambdas_platform_only() -> None:
    command = LayerLocalBundler().pip_command(Path("/out/python"))
    joined = " ".join(command)
    assert f"--platform {LAMBDA_PLATFORM}" in joined
    assert "--only-binary=:all:" in command
    assert "--python-version 3.13" in joined
    assert "--implementation cp" in joined
    assert "--target /out/python" in joined
    assert command[command.index("-r") + 1].endswith("requirements/layer.txt")


def test_bundled_fingerprint_follows_the_pinned_requirements() -> None:
    assert "!requirements/layer.txt" in BUNDLED_LAYER_SOURCE_EXCLUDES


def test_every_layer_pin_has_a_cp313_aarch64_wheel(tmp_path: Path) -> None:
    """pip resolves requirements/layer.txt with the bundler's own flags (no download): a pin without a wheel
    for Lambda's Python and platform fails the resolution, and each resolved file must be such a wheel."""
    report = tmp_path / "report.json"
    command = [*LayerLocalBundler().pip_command(tmp_path / "python"), "--dry-run", "--report", str(report)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    resolved = {
        normalized(item["metadata"]["name"]): item["download_info"]["url"].rsplit("/", 1)[-1]
        for item in json.loads(report.read_text())["install"]
    }
    pinned = {
        normalized(re.split(r"[\[=]", line, maxsplit=1)[0])
        for line in LAYER_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert pinned <= set(resolved)
    for name, filename in resolved.items():
        tags = WHEEL_TAGS.search(filename)
        assert tags, (name, filename)
        assert loads_on_cp313(tags["python"], tags["abi"]), (name, filename)
        assert tags["platform"] == "any" or "aarch64" in tags["platform"], (name, filename)
