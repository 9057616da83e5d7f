"""API Gateway's gateway responses: the template's own (by type, then DEFAULT_4XX/5XX) or AWS's defaults."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}
_CONTEXT_VAR = re.compile(r"\$(?:\{context\.([A-Za-z0-9_.]+)\}|context\.([A-Za-z0-9_.]+))")


@dataclass
class GatewayResponseSpec:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)


@dataclass
class GatewayError:
    """A refusal by API Gateway itself; rendered through the API's gateway responses."""

    response_type: str
    message: str | None
    status: int | None = None
    validation_error: str = ""


class GatewayResponses:
    def __init__(self, resources: dict[str, dict[str, Any]], api_ref: str) -> None:
        self._specs: dict[str, GatewayResponseSpec] = {}
        for resource in resources.values():
            props = resource["Properties"]
            if resource["Type"] != "AWS::ApiGateway::GatewayResponse" or props.get("RestApiId") != api_ref:
                continue
            self._specs[props["ResponseType"]] = GatewayResponseSpec(
                status=int(props["StatusCode"]) if props.get("StatusCode") else None,
                headers={
                    k.removeprefix("gatewayresponse.header."): v
                    for k, v in (props.get("ResponseParameters") or {}).items()
                    if k.startswith("gatewayresponse.header.")
                },
                templates=dict(props.get("ResponseTemplates") or {}),
            )

    def render(
        self, error: GatewayError, request_headers: dict[str, str], context: dict[str, str]
    ) -> Response:
        status = error.status or DEFAULT_STATUS.get(error.response_type, 500)
        spec = self._specs.get(error.response_type) or self._specs.get(
            "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        )
        values = {
            "error.message": error.message or "",
            "error.messageString": json.dumps(error.message),
            "error.validationErrorString": error.validation_error,
            "error.responseType": error.response_type,
            **context,
        }
        headers = {"Content-Type": "application/json"}
        body = json.dumps({"message": error.message})
        if spec is not None:
            status = spec.status or status
            for name, source in spec.headers.items():
                resolved = parameter_value(source, request_headers)
                if resolved:  # API Gateway leaves out a header whose source is missing
                    headers[name] = resolved
            template = spec.templates.get("application/json") or next(iter(spec.templates.values()), None)
            if template is not None:
                body = substitute_context(template, values)
        return Response(body, status_code=status, headers=headers)


def parameter_value(source: str, request_headers: dict[str, str]) -> str:
    """A mapping value: a quoted static string, or a request header (method.request.header.X)."""
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    if source.startswith("method.request.header."):
        return request_headers.get(source.removeprefix("method.request.header.").lower(), "")
    return ""


def substitute_context(template: str, values: dict[str, str]) -> str:
    """The `$context.*` variables gateway response templates use (no full VTL engine needed)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        trailing = "." if name.endswith(".") else ""
        return values.get(name.rstrip("."), "") + trailing

    return _CONTEXT_VAR.sub(replace, template)
