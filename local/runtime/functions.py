"""Run the template's Lambda functions in warm worker subprocesses, one invocation at a time per worker."""

from __future__ import annotations

import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from local.runtime.context import FunctionError
from local.runtime.template import Template
from local.runtime.worker import read_message, write_message

LOCAL_INIT_SECONDS = 60.0  # Lambda: 10 s (see Worker.wait_ready)
# Handler imports running at once. A system at WALLETS_SPEED fires every minute rule in its first seconds and
# each target's first worker imports its handler (0.3-1 s of CPU): thirty of them sharing two cores took the
# authorizer's first invoke past its 5 s timeout (a 500 Lambda never gives). Lambda runs each init on a CPU
# of its own; queueing the imports gives each one a CPU as well.
INIT_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_EXECUTE_API_URL = re.compile(
    r"(https|wss)://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(/[^/\s]*)?"
)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_paths: tuple[Path, ...]
    environment: dict[str, str]
    timeout: float
    memory: int

    @classmethod
    def from_template(cls, template: Template, logical_id: str, extra_env: dict[str, str]) -> FunctionSpec:
        resource = template.resources[logical_id]
        props = resource["Properties"]
        code_dir = _asset_dir(template, logical_id)
        layers = []
        for layer_arn in props.get("Layers", []):
            layer_id = template.logical_id_for(layer_arn)
            if layer_id is None:
                raise FunctionError({"errorMessage": f"{logical_id}: unknown layer {layer_arn}"})
            folder = _asset_dir(template, layer_id)
            layers.append(folder / "python" if (folder / "python").is_dir() else folder)
        name = template.physical_id(logical_id)
        env = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        env.update(extra_env)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 128)),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "LAMBDA_TASK_ROOT": str(code_dir),
            }
        )
        return cls(
            logical_id=logical_id,
            name=name,
            arn=template.arn(logical_id),
            handler=str(props.get("Handler", "index.handler")),
            code_dir=code_dir,
            layer_paths=tuple(layers),
            environment=env,
            timeout=float(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
        )


def _asset_dir(template: Template, logical_id: str) -> Path:
    """The staged asset folder: Metadata `aws:asset:path`, else the `asset.<hash>` folder its S3Key names.

    The cdk CLI adds the metadata; a bare `python app.py` synth does not, but stages the same folders.
    """
    resource = template.resources[logical_id]
    asset = resource.get("Metadata", {}).get("aws:asset:path")
    if asset:
        return (template.folder / asset).resolve()
    props = resource["Properties"]
    key = str((props.get("Code") or props.get("Content") or {}).get("S3Key", ""))
    folder = template.folder / f"asset.{key.removesuffix('.zip')}"
    if key and folder.is_dir():
        return folder.resolve()
    raise FunctionError(
        {"errorMessage": f"{logical_id}: no staged asset folder (inline code or bundled zip?)"}
    )


def rewrite_api_urls(value: str, rest_api_ids: set[str], ws_api_ids: set[str], base: str) -> str:
    """Point execute-api URLs of the template's own APIs at the local server (REST paths carry no stage)."""

    def replace(match: re.Match[str]) -> str:
        scheme, api_id, stage = match.group(1), match.group(2), match.group(3) or ""
        if api_id in rest_api_ids:
            return base
        if api_id in ws_api_ids:
            if scheme == "wss":
                return base.replace("http://", "ws://", 1) + "/ws"
            return base + stage
        return match.group(0)

    return _EXECUTE_API_URL.sub(replace, value)


class Worker:
    """One subprocess with the handler imported; the invoke protocol uses two pipe fds, never stdout."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log: logging.Logger) -> None:
        self.spec = spec
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-u", str(WORKER_SCRIPT), str(request_read), str(response_write)],
            env=env,
            pass_fds=(request_read, response_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=spec.code_dir,
        )
        os.close(request_read)
        os.close(response_write)
        self._log_thread = threading.Thread(
            target=_pump_logs, args=(self.process.stdout, spec.name, log), daemon=True
        )
        self._log_thread.start()
        self.init_error: dict[str, Any] | None = None
        self._ready = False

    def wait_ready(self) -> None:
        """Block until the handler module is imported (Lambda's init phase).

        Lambda gives init 10 s and, when that runs out, retries it inside the first invoke under the
        function's timeout. Lambda's 10 s is on a CPU of the function's own; here every function of the
        template may start at once on a developer's or CI's few cores (a system at WALLETS_SPEED fires
        its minute rules in its first seconds), and an import of 0.5 s then took over 15 s and answered
        a 500 (the authorizer's 10 s + 5 s) that Lambda would never have. So init gets LOCAL_INIT_SECONDS
        in place of Lambda's 10, plus the function's timeout: an import that hangs still fails.
        """
        if self._ready or self.init_error:
            return
        # The worker waits for this message before it imports the handler: at most INIT_SLOTS imports run
        # at once, and a function's init time counts from its own start, not from the queue before it.
        with INIT_SLOTS:
            try:
                write_message(
                    self._request_write,
                    {
                        "code_dir": str(self.spec.code_dir),
                        "layer_paths": [str(p) for p in self.spec.layer_paths],
                        "handler": self.spec.handler,
                        "function_name": self.spec.name,
                        "function_arn": self.spec.arn,
                        "memory": self.spec.memory,
                    },
                )
                reply = self._read(time.monotonic() + LOCAL_INIT_SECONDS + self.spec.timeout)
            except OSError:
                reply = None
        if reply is None:
            self.init_error = {
                "errorMessage": "init phase timed out or crashed",
                "errorType": "Runtime.Unknown",
            }
            self.kill()
        elif "init_error" in reply:
            self.init_error = reply["init_error"]
            self.kill()
        else:
            self._ready = True

    def invoke(self, event: dict[str, Any]) -> Any:
        self.wait_ready()
        if self.init_error:
            raise FunctionError(self.init_error)
        request_id = str(uuid.uuid4())
        deadline = time.time() + self.spec.timeout
        try:
            write_message(
                self._request_write, {"request_id": request_id, "event": event, "deadline": deadline}
            )
        except OSError as exc:
            self.kill()
            raise FunctionError(
                {"errorMessage": f"worker gone: {exc}", "errorType": "Runtime.ExitError"}
            ) from exc
        reply = self._read(time.monotonic() + self.spec.timeout)
        if reply is None and self.process.poll() is not None:
            self.kill()
            raise FunctionError(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                    f"exit status {self.process.returncode}",
                    "errorType": "Runtime.ExitError",
                }
            )
        if reply is None:
            self.kill()
            raise FunctionError(
                {
                    "errorMessage": f"{request_id} Task timed out after {self.spec.timeout:.2f} seconds",
                    "errorType": "Sandbox.Timedout",
                }
            )
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    def _read(self, deadline: float) -> dict[str, Any] | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([self._response_read], [], [], remaining)
        if not ready:
            return None
        # The reply is written in one go right after the handler returns, so once readable it completes.
        return read_message(self._response_read)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        fds = (self._request_write, self._response_read)
        self._request_write = self._response_read = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def stop(self) -> None:
        """Close the request pipe so the worker exits on its own; kill it if it lingers."""
        self.release()
        self.reap(2.0)

    def release(self) -> None:
        """Close the request pipe: the worker exits once its invocation in flight (if any) returns.

        The response fd stays open: a thread still invoking this worker reads EOF and cleans up itself.
        """
        fd, self._request_write = self._request_write, -1
        if fd >= 0:
            os.close(fd)

    def reap(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the released worker to exit, then kill it."""
        try:
            self.process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _pump_logs(stream: IO[bytes] | None, name: str, log: logging.Logger) -> None:
    if stream is None:
        return
    fn_log = log.getChild("function")
    for line in iter(stream.readline, b""):
        fn_log.info("[%s] %s", name, line.decode(errors="replace").rstrip())
    stream.close()


class _Pool:
    def __init__(
        self, spec: FunctionSpec, env: dict[str, str], max_workers: int, log: logging.Logger
    ) -> None:
        self.spec = spec
        self.env = env
        self.max_workers = max_workers
        self.log = log
        self.idle: list[Worker] = []
        self.all: set[Worker] = set()
        self.busy = 0
        self.cond = threading.Condition()
        self.closed = False
        self.invocations = 0

    def acquire(self) -> Worker:
        with self.cond:
            while True:
                if self.closed:
                    raise FunctionError({"errorMessage": "runtime is shutting down", "errorType": "Shutdown"})
                while self.idle:
                    worker = self.idle.pop()
                    if worker.alive:
                        self.busy += 1
                        return worker
                if self.busy < self.max_workers:
                    self.busy += 1
                    break
                self.cond.wait()
        try:
            worker = Worker(self.spec, self.env, self.log)
        except BaseException:
            with self.cond:
                self.busy -= 1
                self.cond.notify()
            raise
        with self.cond:
            self.all.add(worker)
        return worker

    def release(self, worker: Worker, *, counted: bool = True) -> None:
        with self.cond:
            self.busy -= 1
            self.invocations += counted
            if worker.alive and not worker.init_error and not self.closed:
                self.idle.append(worker)
            else:
                self.all.discard(worker)
                worker.kill()
            self.cond.notify()

    def close(self) -> list[Worker]:
        """Every worker, busy ones included: a busy invocation then fails instead of outliving the runtime."""
        with self.cond:
            self.closed = True
            workers, self.all, self.idle = list(self.all), set(), []
            self.cond.notify_all()
        return workers


class FunctionPool:
    """Invokes functions by logical id; each has a pool of warm workers growing on demand to `max_workers`."""

    def __init__(
        self,
        template: Template,
        *,
        base_env: dict[str, str],
        extra_env: dict[str, str],
        local_base_url: str,
        max_workers: int,
        log: logging.Logger,
    ) -> None:
        self.log = log
        rest_ids = {template.physical_id(lid) for lid in template.of_type("AWS::ApiGateway::RestApi")}
        ws_ids = {template.physical_id(lid) for lid in template.of_type("AWS::ApiGatewayV2::Api")}
        self._pools: dict[str, _Pool] = {}
        for lid in template.of_type("AWS::Lambda::Function"):
            spec = FunctionSpec.from_template(template, lid, extra_env)
            env = dict(os.environ) | {k: v for k, v in base_env.items()}
            env.update(
                {
                    k: rewrite_api_urls(v, rest_ids, ws_ids, local_base_url)
                    for k, v in spec.environment.items()
                }
            )
            self._pools[lid] = _Pool(spec, env, max_workers, log)
        self._async = ThreadPoolExecutor(max_workers=16, thread_name_prefix="async-invoke")

    @property
    def logical_ids(self) -> list[str]:
        return list(self._pools)

    def spec(self, logical_id: str) -> FunctionSpec:
        return self._pools[logical_id].spec

    def invocation_count(self, logical_id: str) -> int:
        return self._pools[logical_id].invocations

    def invoke(self, logical_id: str, event: dict[str, Any], *, asynchronous: bool = False) -> Any:
        if logical_id not in self._pools:
            raise FunctionError(
                {"errorMessage": f"no function {logical_id}", "errorType": "ResourceNotFound"}
            )
        if asynchronous:
            self._async.submit(self._invoke_logged, logical_id, event)
            return None
        pool = self._pools[logical_id]
        worker = pool.acquire()
        try:
            return worker.invoke(event)
        finally:
            pool.release(worker)

    def _invoke_logged(self, logical_id: str, event: dict[str, Any]) -> None:
        try:
            self.invoke(logical_id, event)
        except FunctionError as exc:
            self.log.error("async invoke of %s failed: %s", logical_id, exc.payload)

    def warm(self) -> None:
        """Start one worker per function (Lambda's init) so first requests find a warm handler."""
        for pool in self._pools.values():
            try:
                worker = pool.acquire()
            except FunctionError:
                return
            worker.wait_ready()
            if worker.init_error:
                self.log.error("%s failed to initialise: %s", pool.spec.name, worker.init_error)
            pool.release(worker, counted=False)

    def stop(self) -> None:
        self._async.shutdown(wait=False, cancel_futures=True)
        workers = [w for pool in self._pools.values() for w in pool.close()]
        # Every worker told at once, then one shared grace period: a busy session leaves dozens of workers,
        # and two seconds each in turn outlasted the minute a caller waits for SIGTERM to finish.
        for worker in workers:
            worker.release()
        deadline = time.monotonic() + 2.0
        for worker in workers:
            worker.reap(deadline - time.monotonic())
