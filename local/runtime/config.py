"""The runtime's project config (a TOML file of data only) and the template staleness check."""

from __future__ import annotations

import fcntl
import json
import logging
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_JWT_SECRET = "local-dev-secret"  # noqa: S105 - the documented local default
DEFAULT_MAX_WORKERS = 8
_CDK_HASH = re.compile(r"[0-9A-F]{8}$")
_PLACEHOLDER = re.compile(
    r"\{(port|jwt_secret|moto_url|rest_url|ws_url|host|python|service_port|service:[a-z0-9_-]+)\}"
)


@dataclass
class RuntimeConfig:
    """`root` anchors `sources` and the synth command (the config's `root` key, relative to the file)."""

    root: Path
    template: Path | None = None
    synth_command: str = ""
    sources: list[str] = field(default_factory=list)
    secrets: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_workers: int = DEFAULT_MAX_WORKERS

    @classmethod
    def load(cls, path: Path) -> RuntimeConfig:
        data = tomllib.loads(path.read_text())
        root = (path.parent / data.get("root", ".")).resolve()
        return cls(
            root=root,
            template=(root / data["template"]) if "template" in data else None,
            synth_command=data.get("synth_command", ""),
            sources=list(data.get("sources", [])),
            secrets=dict(data.get("secrets", {})),
            env={k: str(v) for k, v in data.get("env", {}).items()},
            tokens=dict(data.get("tokens", {})),
            services=dict(data.get("services", {})),
            max_workers=int(data.get("max_workers", DEFAULT_MAX_WORKERS)),
        )

    def secret_value(self, logical_id: str, values: dict[str, str]) -> str | None:
        """The local value of a secret whose logical id a `[secrets]` key names (longest key wins).

        A key matches the id's start, or the end of the id without CDK's 8-hex hash, so `JwtSecret` names
        both `JwtSecret1A2B3C4D` and a nested construct's `SecurityJwtSecretE55CB4E5`.
        """
        bare = _CDK_HASH.sub("", logical_id)
        keys = [k for k in self.secrets if logical_id.startswith(k) or bare.endswith(k)]
        if not keys:
            return None
        value = self.secrets[max(keys, key=len)]
        if isinstance(value, dict):
            return json.dumps({k: fill(v, values) if isinstance(v, str) else v for k, v in value.items()})
        return fill(str(value), values)


def fill(text: str, values: dict[str, str]) -> str:
    """Substitute `{port}`-style placeholders only, so JSON braces in values survive."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _source_files(config: RuntimeConfig) -> list[Path]:
    files: list[Path] = []
    for pattern in config.sources:
        for path in config.root.glob(pattern):
            # Python 3.11's `**` matches folders only, so a matched folder stands for everything under it.
            if path.is_dir():
                files.extend(p for p in path.rglob("*") if p.is_file())
            else:
                files.append(path)
    # Bytecode is written by merely importing a module; it never changes what synth produces.
    return [p for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _newest_source(config: RuntimeConfig) -> float:
    return max((p.stat().st_mtime for p in _source_files(config)), default=0.0)


def _stamp(template: Path) -> Path:
    return template.parent / ".local-runtime-synth"


def is_stale(template: Path, config: RuntimeConfig) -> bool:
    """Missing, older than a source, or synthesized by another command (e.g. deploy mode by `make synth`)."""
    if not template.exists():
        return True
    if config.synth_command:
        stamp = _stamp(template)
        if not stamp.exists() or stamp.read_text() != config.synth_command:
            return True
    return _newest_source(config) > template.stat().st_mtime


def ensure_template(template: Path, config: RuntimeConfig, log: logging.Logger) -> None:
    """Run the synth command when the template is stale; stamp the output folder with the command.

    Two runtimes starting at once (parallel test workers) would synthesize into the same folder and trip
    over each other's asset staging, so the check and the synth run under an exclusive file lock.
    """
    if not is_stale(template, config):
        return
    template.parent.mkdir(parents=True, exist_ok=True)
    with (template.parent.parent / f".{template.parent.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_stale(template, config):
            return
        _synthesize(template, config, log)


def _synthesize(template: Path, config: RuntimeConfig, log: logging.Logger) -> None:
    if not config.synth_command:
        raise FileNotFoundError(f"{template} is missing or stale and the config has no synth_command")
    log.info("template %s is stale; running: %s", template, config.synth_command)
    # The command is the project's own config (it sets env vars inline), so it needs a shell.
    subprocess.run(config.synth_command, shell=True, cwd=config.root, check=True)  # noqa: S602
    if not template.exists():
        raise FileNotFoundError(f"synth finished but {template} does not exist")
    _stamp(template).write_text(config.synth_command)
