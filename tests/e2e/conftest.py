"""Start `python -m local.runtime` as a user does, on a free port, and stop it with SIGTERM."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_OUT = ROOT / ".cache" / "runtime-fixture.out"
FIXTURE_TEMPLATE = FIXTURE_OUT / "RuntimeFixture.template.json"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_TIMEOUT = 60.0
FUZZ = "tests/e2e/test_openapi_fuzz_e2e.py::"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class RunningRuntime:
    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    port: int
    log_path: Path

    @property
    def rest_url(self) -> str:
        return str(self.state["rest_url"])

    @property
    def ws_url(self) -> str:
        return str(self.state["ws_url"])

    @property
    def moto_url(self) -> str:
        return str(self.state["moto_url"])

    @property
    def tokens(self) -> dict[str, str]:
        return dict(self.state["tokens"])

    def aws(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.moto_url, region_name="us-east-1", **_credentials())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


LOG_TAIL_LINES = 80


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test shows the end of each runtime log it used: a 5xx or a lost event in CI is otherwise
    only a status code, and the runtime's log (the function's traceback, a timed-out worker) is gone
    with the machine."""
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, RunningRuntime) and value.log_path.exists():
                tail = value.log().splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"runtime log ({name}, last {len(tail)} lines)", "\n".join(tail)))
    return report


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "aws_session_token": "testing",
    }


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def start_runtime(
    template: Path,
    config: Path,
    tmp_path: Path,
    speed: float = 1,
    env: dict[str, str] | None = None,
) -> Iterator[RunningRuntime]:
    """Run the runtime until the block ends, then SIGTERM it and assert it exited 0 without orphans."""
    port = free_port()
    state_file = tmp_path / f"runtime-{port}.json"
    log_path = tmp_path / f"runtime-{port}.log"
    process_env = dict(os.environ, **AWS_ENV, **(env or {}))
    process_env.pop("WALLETS_PORT", None)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.runtime",
                "--template",
                str(template),
                "--config",
                str(config),
                "--port",
                str(port),
                "--speed",
                str(speed),
                "--state-file",
                str(state_file),
            ],
            cwd=ROOT,
            env=process_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"runtime exited with {process.returncode}:\n{log_path.read_text()}")
            return state_file.exists() and _port_open(port)

        wait_for(ready, timeout=START_TIMEOUT)
        state = json.loads(state_file.read_text())
        yield RunningRuntime(process, state, port, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            # Generous: on a loaded 2-core machine the stand-ins and workers take a while to drain.
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"runtime ignored SIGTERM:\n{log_path.read_text()}") from None
    assert code == 0, f"runtime exited with {code}:\n{log_path.read_text()}"
    assert not _children_alive(process.pid), "worker processes outlived the runtime"


def _children_alive(pid: int) -> bool:
    """Whether any process still has `pid` as parent (workers are children of the runtime)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            return True
    return False


def _fixture_stale() -> bool:
    if not FIXTURE_TEMPLATE.exists():
        return True
    newest = max(
        p.stat().st_mtime
        for p in FIXTURES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and "cdk.out" not in p.parts
    )
    return newest > FIXTURE_TEMPLATE.stat().st_mtime


@pytest.fixture(scope="session")
def fixture_template() -> Path:
    """The fixture CDK app synthesized once (bundling skipped); re-synthesized only when it changed.

    Parallel test workers share the output folder, so the check and the synth hold an exclusive lock.
    """
    FIXTURE_OUT.parent.mkdir(parents=True, exist_ok=True)
    with (FIXTURE_OUT.parent / ".runtime-fixture.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _fixture_stale():
            env = dict(
                os.environ,
                CDK_OUTDIR=str(FIXTURE_OUT),
                CDK_CONTEXT_JSON=json.dumps({"aws:cdk:bundling-stacks": []}),
                JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
            )
            subprocess.run([sys.executable, "app.py"], cwd=FIXTURES, env=env, check=True, capture_output=True)
    return FIXTURE_TEMPLATE


@pytest.fixture(scope="session")
def fixture_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's runtime config without its synth command: the session synthesized the template."""
    text = "\n".join(
        line
        for line in (FIXTURES / "runtime.toml").read_text().splitlines()
        if not line.startswith("synth_command")
    )
    path = tmp_path_factory.mktemp("config") / "runtime.toml"
    path.write_text(text.replace('root = "."', f'root = "{FIXTURES}"'))
    return path


@pytest.fixture
def runtime_factory(
    tmp_path: Path,
) -> Callable[..., AbstractContextManager[RunningRuntime]]:
    """`with runtime_factory(template, config, speed=1, env=None) as rt:` for tests that need their own."""

    def factory(
        template: Path, config: Path, speed: float = 1, env: dict[str, str] | None = None
    ) -> AbstractContextManager[RunningRuntime]:
        return start_runtime(template, config, tmp_path, speed=speed, env=env)

    return factory


@pytest.fixture(scope="session", autouse=True)
def _shared_systems() -> Iterator[None]:
    """Stops the systems tests/e2e/system.py `project_system` shared between this process's files."""
    yield
    from tests.e2e.system import stop_shared_systems  # that module builds on this one

    stop_shared_systems()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the shared systems as soon as this worker's next test is not end-to-end.

    End-to-end files are handed out first (tests/conftest.py), so a worker that moves on to other tests
    does not come back for more; an idle system polling its streams, queues and schedules would otherwise
    take CPU from every test left in the session. (One that does come back starts a system again.)"""
    from tests.e2e.system import stop_shared_systems  # that module builds on this one

    if nextitem is None or not nextitem.nodeid.startswith("tests/e2e/"):
        stop_shared_systems()
    elif item.nodeid.startswith(FUZZ) and not nextitem.nodeid.startswith(FUZZ):
        stop_shared_systems("fuzz")
