"""The Docker-free layer bundler, run through the same class on a tiny requirements file (needs PyPI)."""

from __future__ import annotations

from pathlib import Path

from infra.bundling import BUNDLED_LAYER_SOURCE_EXCLUDES, LAMBDA_PLATFORM, LayerLocalBundler


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
    assert "--python-version 3.11" in joined
    assert "--implementation cp" in joined
    assert "--target /out/python" in joined
    assert command[command.index("-r") + 1].endswith("requirements/layer.txt")


def test_bundled_fingerprint_follows_the_pinned_requirements() -> None:
    assert "!requirements/layer.txt" in BUNDLED_LAYER_SOURCE_EXCLUDES
