"""A Lambda worker process: imports one handler and runs invocations sent over two pipe fds.

Run as `python -I -u worker.py <request_fd> <response_fd>`; self-contained (no project imports) so the
handler sees only its own code, its layers and the venv, as on Lambda. stdout/stderr are the handler's logs.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")


def read_message(fd: int) -> dict[str, Any] | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    if body is None:
        return None
    return json.loads(body)  # type: ignore[no-any-return]


def write_message(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools read."""

    def __init__(self, init: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name: str = init["function_name"]
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = init["function_arn"]
        self.memory_limit_in_mb: int = int(init["memory"])
        self.aws_request_id: str = request_id
        self.log_group_name: str = f"/aws/lambda/{init['function_name']}"
        self.log_stream_name: str = f"local/{os.getpid()}"
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(exc: BaseException, error_type: str | None = None, request_id: str = "") -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _load_handler(init: dict[str, Any]) -> Any:
    sys.path[:0] = [init["code_dir"], *init["layer_paths"]]
    os.chdir(init["code_dir"])
    module_name, _, attr = init["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        raise _InitError(
            _error(exc, "Runtime.ImportModuleError")
            | {"errorMessage": f"Unable to import module '{module_name}': {exc}"}
        ) from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise _InitError(
            {
                "errorMessage": f"Handler '{attr}' missing on module '{module_name}'",
                "errorType": "Runtime.HandlerNotFound",
                "stackTrace": [],
            }
        )
    return handler


class _InitError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload["errorMessage"])
        self.payload = payload


def main(request_fd: int, response_fd: int) -> None:
    init = read_message(request_fd)
    if init is None:
        return
    try:
        handler = _load_handler(init)
    except _InitError as exc:
        write_message(response_fd, {"init_error": exc.payload})
        return
    write_message(response_fd, {"ready": True})
    while (request := read_message(request_fd)) is not None:
        request_id = request["request_id"]
        context = LambdaContext(init, request_id, request["deadline"])
        os.environ["_X_AMZN_TRACE_ID"] = f"Root=1-{int(time.time()):08x}-{request_id.replace('-', '')[:24]}"
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            traceback.print_exc()
            response: dict[str, Any] = {"error": _error(exc, request_id=request_id)}
        else:
            try:
                response = {"result": json.loads(json.dumps(result))}
            except (TypeError, ValueError) as exc:
                response = {"error": _error(exc, "Runtime.MarshalError", request_id)}
        sys.stdout.flush()
        sys.stderr.flush()
        write_message(response_fd, response)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
