"""Sidecar processes the config asks for (stand-ins of outside services), each on a free loopback port."""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.runtime.config import fill

READY_TIMEOUT = 30.0


@dataclass
class Sidecar:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pipe_log(name: str, stream: IO[bytes], log: logging.Logger) -> None:
    for line in iter(stream.readline, b""):
        log.info("[%s] %s", name, line.decode(errors="replace").rstrip())


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return 200 <= int(answer.status) < 300
    except (urllib.error.URLError, OSError):
        return False


class Sidecars:
    """Starts `[services.<name>]` commands (`{service_port}`, `{python}` and the runtime's placeholders
    filled in), waits until each answers its `ready_path`, and publishes `{service:<name>}` for `[env]`."""

    def __init__(self, root: Path, log: logging.Logger) -> None:
        self.root = root
        self.log = log
        self.running: list[Sidecar] = []

    def start(self, services: dict[str, dict[str, Any]], placeholders: dict[str, str]) -> None:
        for name, spec in services.items():
            port = _free_port()
            values = {**placeholders, "service_port": str(port), "python": sys.executable}
            argv = [fill(part, values) for part in shlex.split(str(spec["command"]))]
            process = subprocess.Popen(
                argv,
                cwd=self.root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            url = f"http://127.0.0.1:{port}"
            self.running.append(Sidecar(name, url, process))
            assert process.stdout is not None
            threading.Thread(target=_pipe_log, args=(name, process.stdout, self.log), daemon=True).start()
            placeholders[f"service:{name}"] = url
        for sidecar in self.running:
            self._wait(sidecar, str(services[sidecar.name].get("ready_path", "/")))

    def _wait(self, sidecar: Sidecar, ready_path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _ready(sidecar.url + ready_path):
            if sidecar.process.poll() is not None:
                raise RuntimeError(f"service {sidecar.name} exited with {sidecar.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"service {sidecar.name} not ready at {sidecar.url}{ready_path}")
            time.sleep(0.05)
        self.log.info("service %s ready at %s", sidecar.name, sidecar.url)

    def urls(self) -> dict[str, str]:
        return {sidecar.name: sidecar.url for sidecar in self.running}

    def stop(self) -> None:
        for sidecar in self.running:
            if sidecar.process.poll() is None:
                sidecar.process.terminate()
        for sidecar in self.running:
            try:
                sidecar.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                sidecar.process.kill()
                sidecar.process.wait()
        self.running.clear()
