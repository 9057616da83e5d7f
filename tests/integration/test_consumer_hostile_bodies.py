"""Bytes that are not JSON (control characters, broken UTF-8) are 400 on every consumer write, PATCH too (the
fuzzing run found a 500 on PATCH /preferences)."""

from __future__ import annotations

import base64

import pytest

from tests.integration.conftest import FakeLambdaContext, api_event, body_of
from tests.integration.test_consumer_api import (
    ALICE,
    Env,
    env,  # noqa: F401  (the fixture, reused)
)


@pytest.mark.parametrize("raw", ["\x06r\x08\ufffdC\ufffd", "{", "[]", "null", '"text"', "1"])
def test_a_body_that_is_not_an_object_is_a_validation_error(env: Env, raw: str) -> None:  # noqa: F811
    env.onboard()
    answer = env.call("PATCH", "preferences", raw_body=raw)
    assert answer["statusCode"] == 400, answer["body"]
    assert body_of(answer)["code"] == "validation_error"


def test_broken_utf8_sent_as_base64_is_a_validation_error(env: Env) -> None:  # noqa: F811
    """The gateway hands a body that is not UTF-8 over base64-encoded."""
    env.onboard()
    import functions.consumer.handler as handler

    raw = base64.b64encode(b"\x06r\x08\xe9C\xff").decode()
    event = api_event("PATCH", "/api/consumer/preferences", raw_body=raw, principal=ALICE)
    event["isBase64Encoded"] = True
    answer = handler.lambda_handler(event, FakeLambdaContext(function_name="consumer"))
    assert answer["statusCode"] == 400, answer["body"]
    assert body_of(answer)["code"] == "validation_error"
