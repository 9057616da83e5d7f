"""The REST API (API Gateway v1) built from the template: routing, authorizers, validation, proxy events."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import anyio
import jsonschema
from starlette.requests import Request
from starlette.responses import Response

from local.runtime.authorizers import (
    AuthorizerCache,
    AuthorizerDenied,
    AuthorizerSpec,
    authorize,
    function_from_uri,
)
from local.runtime.context import FunctionError, RuntimeContext
from local.runtime.gateway_responses import GatewayError, GatewayResponses, parameter_value
from local.runtime.template import ACCOUNT_ID, REGION

MAX_PAYLOAD = 10 * 1024 * 1024
_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_MOCK_STATUS = re.compile(r"""statusCode["']?\s*:\s*(\d{3})""")
_CORS_ORIGIN_TEST = re.compile(r"""\$origin\s*==\s*"([^"]*)\"""")


@dataclass
class Method:
    http_method: str
    resource_path: str
    resource_id: str
    props: dict[str, Any]


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    greedy: tuple[str, _Node] | None = None
    resource_path: str = "/"
    methods: dict[str, Method] = field(default_factory=dict)


def request_time(epoch: float) -> tuple[str, int]:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(epoch * 1000)


class RestApi:
    """One AWS::ApiGateway::RestApi, served at the root of the local server (paths without the stage)."""

    def __init__(self, ctx: RuntimeContext, api_lid: str) -> None:
        self.ctx = ctx
        template = ctx.template
        resources = template.resources
        self.api_id = template.physical_id(api_lid)
        self.stage = self._stage_name(resources)
        self.root = _Node()
        self.authorizers: dict[str, AuthorizerSpec] = {}
        self.validators: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.cache = AuthorizerCache(ctx.clock.now)
        self.gateway_responses = GatewayResponses(resources, self.api_id)
        paths = self._resource_paths(api_lid)
        for lid, res in resources.items():
            props = res["Properties"]
            if props.get("RestApiId") != self.api_id:
                continue
            match res["Type"]:
                case "AWS::ApiGateway::Authorizer":
                    fn = function_from_uri(props.get("AuthorizerUri", ""), template.logical_id_for)
                    if fn is None:
                        ctx.log.warning("authorizer %s: no local function for its AuthorizerUri", lid)
                        continue
                    self.authorizers[template.physical_id(lid)] = AuthorizerSpec(
                        function_id=fn,
                        kind=props.get("Type", "TOKEN"),
                        identity_sources=tuple(
                            s.strip() for s in str(props.get("IdentitySource", "")).split(",") if s.strip()
                        ),
                        ttl_seconds=int(props.get("AuthorizerResultTtlInSeconds", 300)),
                        validation_expression=props.get("IdentityValidationExpression"),
                    )
                case "AWS::ApiGateway::RequestValidator":
                    self.validators[template.physical_id(lid)] = props
                case "AWS::ApiGateway::Model":
                    schema = props.get("Schema", {})
                    self.models[template.physical_id(lid)] = (
                        json.loads(schema) if isinstance(schema, str) else schema
                    )
        for res in template.of_type("AWS::ApiGateway::Method").values():
            props = res["Properties"]
            if props.get("RestApiId") != self.api_id:
                continue
            resource_id = props["ResourceId"]
            path = paths.get(resource_id)
            if path is None:
                continue
            node = self._node_for(path)
            node.methods[props["HttpMethod"].upper()] = Method(
                props["HttpMethod"].upper(), path, resource_id, props
            )

    # -- building --------------------------------------------------------------------------------
    def _stage_name(self, resources: dict[str, dict[str, Any]]) -> str:
        for res in resources.values():
            props = res["Properties"]
            if res["Type"] == "AWS::ApiGateway::Stage" and props.get("RestApiId") == self.api_id:
                return str(props["StageName"])
        for res in resources.values():
            props = res["Properties"]
            if res["Type"] == "AWS::ApiGateway::Deployment" and props.get("StageName"):
                return str(props["StageName"])
        return "prod"

    def _resource_paths(self, api_lid: str) -> dict[str, str]:
        template = self.ctx.template
        root_id = template.attribute(api_lid, "RootResourceId")
        parents: dict[str, tuple[str, str]] = {}
        for lid, res in template.of_type("AWS::ApiGateway::Resource").items():
            props = res["Properties"]
            if props.get("RestApiId") == self.api_id:
                parents[template.physical_id(lid)] = (props["ParentId"], props["PathPart"])
        paths = {root_id: "/"}

        def path_of(resource_id: str) -> str | None:
            if resource_id in paths:
                return paths[resource_id]
            if resource_id not in parents:
                return None
            parent, part = parents[resource_id]
            parent_path = path_of(parent)
            if parent_path is None:
                return None
            paths[resource_id] = parent_path.rstrip("/") + "/" + part
            return paths[resource_id]

        for resource_id in parents:
            path_of(resource_id)
        return paths

    def _node_for(self, path: str) -> _Node:
        node = self.root
        for part in [p for p in path.split("/") if p]:
            if part.startswith("{") and part.endswith("+}"):
                if node.greedy is None:
                    node.greedy = (
                        part[1:-2],
                        _Node(resource_path=node.resource_path.rstrip("/") + "/" + part),
                    )
                node = node.greedy[1]
            elif part.startswith("{") and part.endswith("}"):
                if node.param is None:
                    node.param = (
                        part[1:-1],
                        _Node(resource_path=node.resource_path.rstrip("/") + "/" + part),
                    )
                node = node.param[1]
            else:
                node = node.literal.setdefault(
                    part, _Node(resource_path=node.resource_path.rstrip("/") + "/" + part)
                )
        return node

    def match(self, path: str) -> tuple[_Node, dict[str, str]] | None:
        """Literal segments beat `{param}`, which beats `{proxy+}`, as API Gateway routes."""
        parts = [p for p in path.split("/") if p]

        def walk(node: _Node, index: int, params: dict[str, str]) -> tuple[_Node, dict[str, str]] | None:
            if index == len(parts):
                return (node, params) if node.methods else None
            part = parts[index]
            if part in node.literal:
                found = walk(node.literal[part], index + 1, params)
                if found:
                    return found
            if node.param is not None:
                found = walk(node.param[1], index + 1, {**params, node.param[0]: part})
                if found:
                    return found
            if node.greedy is not None and node.greedy[1].methods:
                return node.greedy[1], {**params, node.greedy[0]: "/".join(parts[index:])}
            return None

        return walk(self.root, 0, {})

    # -- serving ---------------------------------------------------------------------------------
    async def __call__(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        headers = {k.lower(): v for k, v in request.headers.items()}
        context = {"requestId": request_id, "extendedRequestId": request_id[:16], "stage": self.stage}
        try:
            response = await self._serve(request, request_id, headers)
        except _Refusal as refusal:
            response = self.gateway_responses.render(refusal.error, headers, context)
        response.headers["x-amzn-RequestId"] = request_id
        return response

    async def _serve(self, request: Request, request_id: str, headers: dict[str, str]) -> Response:
        if int(headers.get("content-length") or 0) > MAX_PAYLOAD:
            raise _Refusal("REQUEST_TOO_LARGE", "Request Too Long")
        body = await request.body()
        if len(body) > MAX_PAYLOAD:
            raise _Refusal("REQUEST_TOO_LARGE", "Request Too Long")
        path = request.url.path
        found = self.match(path)
        method_name = request.method.upper()
        if found is None:
            raise _Refusal("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        node, path_params = found
        method = node.methods.get(method_name) or node.methods.get("ANY")
        if method is None:
            raise _Refusal("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        integration = method.props.get("Integration") or {}
        if integration.get("Type") == "MOCK":
            return self._mock(integration, headers)
        query = parse_qsl(request.url.query, keep_blank_values=True)
        event = self._event(request, method, node.resource_path, path, path_params, query, body, request_id)
        api_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.api_id}"
        method_arn = f"{api_arn}/{self.stage}/{method_name}/{path.lstrip('/')}"
        if method.props.get("AuthorizationType") == "CUSTOM":
            event["requestContext"]["authorizer"] = await self._authorize(method, event, headers, method_arn)
        self._validate(method, event, headers, body)
        function_id = function_from_uri(integration.get("Uri", ""), self.ctx.template.logical_id_for)
        if integration.get("Type") not in ("AWS_PROXY",) or function_id is None:
            raise _Refusal("API_CONFIGURATION_ERROR", "Internal server error", 500)
        try:
            result = await anyio.to_thread.run_sync(self.ctx.functions.invoke, function_id, event)
        except FunctionError as exc:
            self.ctx.log.error("%s %s: %s failed: %s", method_name, path, function_id, exc.payload)
            raise _Refusal("DEFAULT_5XX", "Internal server error", 502) from exc
        return self._proxy_response(result, function_id)

    async def _authorize(
        self, method: Method, event: dict[str, Any], headers: dict[str, str], method_arn: str
    ) -> dict[str, Any]:
        spec = self.authorizers.get(method.props.get("AuthorizerId", ""))
        if spec is None:
            raise _Refusal("AUTHORIZER_CONFIGURATION_ERROR", None)
        identities = tuple(_identity(source, event, headers) for source in spec.identity_sources)
        if any(value is None or value == "" for value in identities) or not identities:
            raise _Refusal("UNAUTHORIZED", "Unauthorized")
        if spec.kind == "TOKEN":
            token = str(identities[0])
            if spec.validation_expression and not re.fullmatch(spec.validation_expression, token):
                raise _Refusal("UNAUTHORIZED", "Unauthorized")
            auth_event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": token,
                "methodArn": method_arn,
            }
        else:
            auth_event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                **{k: event[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
                **{k: event[k] for k in ("queryStringParameters", "multiValueQueryStringParameters")},
                "pathParameters": event["pathParameters"],
                "stageVariables": event["stageVariables"],
                "requestContext": event["requestContext"],
            }
        try:
            return await anyio.to_thread.run_sync(
                lambda: authorize(
                    spec,
                    tuple(str(i) for i in identities),
                    auth_event,
                    method_arn,
                    self.ctx.functions,
                    self.cache,
                    method.props.get("AuthorizerId", ""),
                )
            )
        except AuthorizerDenied as denied:
            if denied.status >= 500:
                # API Gateway logs why the authorizer failed (a crash, a timeout, a malformed policy); the
                # caller sees only the gateway response.
                self.ctx.log.error(
                    "%s %s: authorizer %s: %s",
                    method.props.get("HttpMethod"),
                    event["path"],
                    spec.function_id,
                    denied.__cause__ or denied.response_type,
                )
            raise _Refusal(denied.response_type, denied.message, denied.status) from denied

    def _validate(self, method: Method, event: dict[str, Any], headers: dict[str, str], body: bytes) -> None:
        validator = self.validators.get(method.props.get("RequestValidatorId", ""))
        if validator is None:
            return
        if validator.get("ValidateRequestParameters"):
            missing = [
                key.rsplit(".", 1)[-1]
                for key, required in (method.props.get("RequestParameters") or {}).items()
                if required and _identity(key, event, headers) in (None, "")
            ]
            if missing:
                raise _Refusal(
                    "BAD_REQUEST_PARAMETERS", f"Missing required request parameters: [{', '.join(missing)}]"
                )
        if validator.get("ValidateRequestBody"):
            models = method.props.get("RequestModels") or {}
            content_type = headers.get("content-type", "application/json").split(";")[0].strip()
            model = models.get(content_type) or models.get("$default")
            schema = self.models.get(model) if model else None
            if schema is None:
                return
            try:
                document = json.loads(body or b"null")
            except ValueError as exc:
                raise _Refusal(
                    "BAD_REQUEST_BODY", "Invalid request body", validation="[Invalid JSON]"
                ) from exc
            validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
            errors = sorted(validator_cls(schema).iter_errors(document), key=lambda e: list(e.path))
            if errors:
                detail = "[" + ", ".join(e.message for e in errors) + "]"
                raise _Refusal("BAD_REQUEST_BODY", "Invalid request body", validation=detail)

    def _mock(self, integration: dict[str, Any], headers: dict[str, str]) -> Response:
        templates = integration.get("RequestTemplates") or {}
        request_template = templates.get("application/json") or next(iter(templates.values()), "")
        status_match = _MOCK_STATUS.search(request_template)
        selected_status = status_match.group(1) if status_match else "200"
        responses = integration.get("IntegrationResponses") or []
        chosen = next(
            (
                r
                for r in responses
                if r.get("SelectionPattern") and re.fullmatch(r["SelectionPattern"], selected_status)
            ),
            None,
        ) or next((r for r in responses if not r.get("SelectionPattern")), None)
        if chosen is None:
            raise _Refusal("API_CONFIGURATION_ERROR", "Internal server error", 500)
        out_headers = {
            k.removeprefix("method.response.header."): parameter_value(v, headers)
            for k, v in (chosen.get("ResponseParameters") or {}).items()
            if k.startswith("method.response.header.")
        }
        response_templates = chosen.get("ResponseTemplates") or {}
        template = response_templates.get("application/json") or next(iter(response_templates.values()), "")
        body = _cors_template(template, headers.get("origin", ""), out_headers)
        return Response(body, status_code=int(chosen.get("StatusCode", selected_status)), headers=out_headers)

    def _event(
        self,
        request: Request,
        method: Method,
        resource_path: str,
        path: str,
        path_params: dict[str, str],
        query: list[tuple[str, str]],
        body: bytes,
        request_id: str,
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for raw_name, raw_value in request.headers.raw:
            multi_headers.setdefault(raw_name.decode("latin-1"), []).append(raw_value.decode("latin-1"))
        multi_query: dict[str, list[str]] = {}
        for key, value in query:
            multi_query.setdefault(key, []).append(value)
        text_body, is_base64 = _body(body)
        host = request.headers.get("host", "127.0.0.1")
        when, epoch_ms = request_time(self.ctx.clock.now())
        client = request.client
        return {
            "resource": resource_path,
            "path": path,
            "httpMethod": request.method.upper(),
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": method.resource_id,
                "resourcePath": resource_path,
                "httpMethod": request.method.upper(),
                "extendedRequestId": request_id[:16],
                "requestTime": when,
                "path": f"/{self.stage}{path}",
                "accountId": ACCOUNT_ID,
                "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
                "stage": self.stage,
                "domainPrefix": host.split(".")[0],
                "requestTimeEpoch": epoch_ms,
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": client.host if client else "127.0.0.1",
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": request.headers.get("user-agent"),
                    "user": None,
                },
                "domainName": host,
                "apiId": self.api_id,
            },
            "body": text_body,
            "isBase64Encoded": is_base64,
        }

    def _proxy_response(self, result: Any, function_id: str) -> Response:
        if (
            not isinstance(result, dict)
            or not set(result) <= _PROXY_KEYS
            or not _valid_status(result.get("statusCode"))
        ):
            self.ctx.log.error("%s returned a malformed proxy response: %r", function_id, result)
            raise _Refusal("DEFAULT_5XX", "Internal server error", 502)
        body = result.get("body")
        headers = result.get("headers") or {}
        multi = result.get("multiValueHeaders") or {}
        if not isinstance(headers, dict) or not isinstance(multi, dict) or not isinstance(body, str | None):
            raise _Refusal("DEFAULT_5XX", "Internal server error", 502)
        if result.get("isBase64Encoded") and body is not None:
            try:
                content = base64.b64decode(body, validate=True)
            except binascii.Error as exc:
                raise _Refusal("DEFAULT_5XX", "Internal server error", 502) from exc
        else:
            content = (body or "").encode()
        response = Response(content, status_code=int(result["statusCode"]))
        # A header set in both maps keeps every value, as API Gateway merges them.
        for name, values in multi.items():
            for value in values if isinstance(values, list) else [values]:
                response.headers.append(name, str(value))
        for name, value in headers.items():
            if name.lower() not in {k.lower() for k in multi}:
                response.headers[name] = str(value)
        if "content-type" not in {k.lower() for k in (*headers, *multi)}:
            response.headers["content-type"] = "application/json"
        return response


class _Refusal(Exception):
    def __init__(
        self, response_type: str, message: str | None, status: int | None = None, validation: str = ""
    ) -> None:
        super().__init__(message)
        self.error = GatewayError(response_type, message, status, validation)


def _valid_status(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 100 <= value <= 599
    return isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599


def _body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def _identity(source: str, event: dict[str, Any], headers: dict[str, str]) -> str | None:
    """The value of `method.request.header.X` / `.querystring.X` / `.path.X` for this request."""
    parts = source.split(".")
    if len(parts) < 4 or parts[0] != "method" or parts[1] != "request":
        return None
    where, name = parts[2], ".".join(parts[3:])
    if where == "header":
        return headers.get(name.lower())
    if where == "querystring":
        return (event.get("queryStringParameters") or {}).get(name)
    if where == "path":
        return (event.get("pathParameters") or {}).get(name)
    return None


def _cors_template(template: str, origin: str, headers: dict[str, str]) -> str:
    """CDK's multi-origin CORS preflight VTL: echo the Origin when it is one of the listed ones.

    Only this idiom is interpreted (no maintained Python VTL engine fits); other directives are dropped.
    """
    overrides_origin = "$context.responseOverride.header.Access-Control-Allow-Origin" in template
    if overrides_origin and origin and origin in _CORS_ORIGIN_TEST.findall(template):
        headers["Access-Control-Allow-Origin"] = origin
    return "\n".join(line for line in template.splitlines() if not line.strip().startswith("#")).strip()
