"""What the fuzzing found at the REST edge: a body of another media type, a path holding a newline."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from local.runtime.server import build_app
from shared.api import build_resolver, handle_api_event
from shared.config import Settings


class Body(BaseModel):
    name: str


def _resolver() -> Any:
    router = APIGatewayRouter()

    @router.post("/things")
    def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    app = build_resolver()
    app.include_router(router)
    return app


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded; charset=utf-8"]
)
def test_a_body_that_is_not_json_is_a_400_validation_error_not_a_500(content_type: str) -> None:
    event = {
        "httpMethod": "POST",
        "path": "/things",
        "resource": "/things",
        "headers": {"Content-Type": content_type},
        "body": '{"name": "x"}',
        "requestContext": {"requestId": "req-1", "stage": "prod"},
        "isBase64Encoded": False,
    }
    answer = handle_api_event(_resolver(), event, None, Settings())
    assert answer["statusCode"] == 400
    body = json.loads(answer["body"])
    assert body["code"] == "validation_error"
    assert body["details"][0]["field"] == "Content-Type"


def test_a_json_body_with_a_charset_still_reaches_the_route() -> None:
    event = {
        "httpMethod": "POST",
        "path": "/things",
        "resource": "/things",
        "headers": {"content-type": "application/json; charset=utf-8"},
        "body": '{"name": "x"}',
        "requestContext": {"requestId": "req-2", "stage": "prod"},
        "isBase64Encoded": False,
    }
    answer = handle_api_event(_resolver(), event, None, Settings())
    assert answer["statusCode"] == 200


class _Echo:
    async def __call__(self, request: Request) -> Response:
        return Response(request.url.path, status_code=299)


def test_the_runtime_routes_a_path_with_an_encoded_newline_to_the_rest_api() -> None:
    client = TestClient(build_app(_Echo(), None))  # type: ignore[arg-type]
    answer = client.get("/api/v2/invoice-wallets/a%0Ab")
    assert answer.status_code == 299
