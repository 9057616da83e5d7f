"""The worker pool: Lambda semantics (context, errors, timeouts, growth, layers) with real subprocesses."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.runtime.context import FunctionError
from local.runtime.functions import FunctionPool
from local.runtime.template import Template

HANDLER = """
import os, sys, time
import helper

def lambda_handler(event, context):
    if event.get("print"):
        print("x" * 100000)
        sys.stdout.write("no newline at the end")
    if event.get("fail"):
        raise KeyError("missing thing")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("unserializable"):
        return {"value": object()}
    return {
        "pid": os.getpid(),
        "helper": helper.VALUE,
        "name": context.function_name,
        "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "env": os.environ.get("CUSTOM"),
        "extra": os.environ.get("EXTRA"),
        "cwd": os.getcwd(),
    }
"""


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[FunctionPool]:
    (tmp_path / "asset.fn").mkdir()
    (tmp_path / "asset.fn" / "app.py").write_text(HANDLER)
    (tmp_path / "asset.broken").mkdir()
    (tmp_path / "asset.broken" / "app.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "asset.layer" / "python").mkdir(parents=True)
    (tmp_path / "asset.layer" / "python" / "helper.py").write_text("VALUE = 'from-layer'\n")
    raw = {
        "Resources": {
            "Layer": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {},
                "Metadata": {"aws:asset:path": "asset.layer"},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "app.lambda_handler",
                    "Timeout": 1,
                    "MemorySize": 256,
                    "Layers": [{"Ref": "Layer"}],
                    "Environment": {"Variables": {"CUSTOM": {"Ref": "AWS::Region"}}},
                },
                "Metadata": {"aws:asset:path": "asset.fn"},
            },
            "Broken": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Handler": "app.lambda_handler"},
                "Metadata": {"aws:asset:path": "asset.broken"},
            },
        }
    }
    template = Template(raw, tmp_path / "Stk.template.json")
    functions = FunctionPool(
        template,
        base_env={"AWS_REGION": "us-east-1"},
        extra_env={"EXTRA": "yes"},
        local_base_url="http://127.0.0.1:1",
        max_workers=2,
        log=logging.getLogger("test"),
    )
    yield functions
    functions.stop()


def test_invoke_with_layer_context_and_env(pool: FunctionPool, tmp_path: Path) -> None:
    result = pool.invoke("Fn", {})
    assert result["helper"] == "from-layer"
    assert result["name"] == "Stk-Fn"
    assert result["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:Stk-Fn"
    assert 0 < result["remaining"] <= 1000
    assert result["memory"] == 256
    assert (result["env"], result["extra"]) == ("us-east-1", "yes")
    assert result["cwd"] == str((tmp_path / "asset.fn").resolve())
    assert pool.invoke("Fn", {})["pid"] == result["pid"], "a warm worker is reused"


def test_handler_output_never_corrupts_the_protocol(pool: FunctionPool) -> None:
    assert pool.invoke("Fn", {"print": True})["helper"] == "from-layer"


def test_unhandled_error_and_marshal_error_payloads(pool: FunctionPool) -> None:
    with pytest.raises(FunctionError) as failed:
        pool.invoke("Fn", {"fail": True})
    assert failed.value.payload["errorType"] == "KeyError"
    assert failed.value.payload["errorMessage"] == "'missing thing'"
    assert any("app.py" in line for line in failed.value.payload["stackTrace"])
    with pytest.raises(FunctionError) as marshal:
        pool.invoke("Fn", {"unserializable": True})
    assert marshal.value.error_type == "Runtime.MarshalError"


def test_import_error_is_reported_on_invoke(pool: FunctionPool) -> None:
    with pytest.raises(FunctionError) as failed:
        pool.invoke("Broken", {})
    assert failed.value.error_type == "Runtime.ImportModuleError"
    assert "not_a_module_anywhere" in failed.value.payload["errorMessage"]


def test_timeout_kills_the_worker_and_a_fresh_one_serves_next(pool: FunctionPool) -> None:
    before = pool.invoke("Fn", {})["pid"]
    with pytest.raises(FunctionError) as timed_out:
        pool.invoke("Fn", {"sleep": 5})
    assert timed_out.value.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timed_out.value.payload["errorMessage"]
    after = pool.invoke("Fn", {})["pid"]
    assert after != before


def test_pool_grows_for_concurrent_calls_up_to_its_max(pool: FunctionPool) -> None:
    pids: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        pid = pool.invoke("Fn", {"sleep": 0.3})["pid"]
        with lock:
            pids.append(pid)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pids) == 4
    assert len(set(pids)) == 2, "four concurrent calls share the two allowed workers"


def test_unknown_function(pool: FunctionPool) -> None:
    with pytest.raises(FunctionError):
        pool.invoke("Nope", {})
