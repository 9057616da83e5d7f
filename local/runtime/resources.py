"""Start moto in server mode and create the template's stateful resources in it."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import socket
import string
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local.runtime import moto_hot_paths, moto_queries, moto_transactions
from local.runtime.cfn_dynamodb import create_table_from_definition
from local.runtime.config import RuntimeConfig
from local.runtime.moto_queries import every_item
from local.runtime.template import REGION, Template
from local.runtime.wakeups import Wakeups

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


_MOTO_CREDENTIALS = {
    "aws_access_key_id": FAKE_ENV["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
    "aws_session_token": FAKE_ENV["AWS_SESSION_TOKEN"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _AtomicDynamoDB:
    """WSGI middleware running DynamoDB requests one at a time, and pulsing the pollers' Wakeups after writes.

    moto's DynamoDB backend checks a transaction's conditions and then applies it without a lock, so two
    concurrent TransactWriteItems can both pass `value = :read` and both commit (duplicate invoice numbers
    under 20 concurrent creates). Real DynamoDB is atomic per request; serializing DynamoDB requests restores
    that. Other services are left concurrent: SQS long polls must not hold a global lock.

    Every request to moto passes here, so this is where a write is seen: once it has completed (its body
    materialized, the backend work done) the Wakeups of the pollers that may now have work are pulsed.
    """

    def __init__(self, app: Callable[..., Any], wakeups: Wakeups) -> None:
        self._app = app
        self.lock = threading.Lock()
        self.wakeups = wakeups

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        written = self.wakeups.written(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(("DynamoDB_", "DynamoDBStreams_")):
            with self.lock:
                # Materialize the body inside the lock: the backend work may be lazy in the iterable.
                body = list(self._app(environ, start_response))
        elif written:
            body = list(self._app(environ, start_response))
        else:
            return self._app(environ, start_response)
        for wakeup in written:
            wakeup.pulse()
        return body


class _MotoHandler(MotoRequestHandler):
    """moto's request handler keeping connections alive, with TCP_NODELAY and no access-log line per request.

    werkzeug's server closes the connection after every response (it cannot tell where an unread request
    body ends), so each call to moto paid a new TCP connection, a name lookup and a new server thread: the
    runtime's pollers and every function's boto3 clients open thousands a minute. Here a request with a
    Content-Length body (every AWS SDK call but S3's streaming ones) is read whole before the application
    runs, so the next request starts where this one ended and the connection is kept; anything else takes
    werkzeug's path and is closed as before.

    The response's headers and body are two sends; with Nagle's algorithm on, the body would wait for the
    client's (delayed) ACK of the headers on the kept connection. The access log formatted a line per
    DynamoDB call only to drop it."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if (
            self.command == "HEAD"
            or self.headers.get("Transfer-Encoding")
            or self.headers.get("Expect")
            or not length.isdigit()
        ):
            super().run_wsgi()
            return
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
        self.environ = environ
        reply: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and reply:
                raise exc_info[1].with_traceback(exc_info[2])
            reply[:] = [status, headers]
            return chunks.append

        try:
            answer = self.server.app(environ, start_response)
            try:
                chunks.extend(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()
        except Exception:
            logging.getLogger("moto").exception("moto failed on %s %s", self.command, self.path)
            self.close_connection = True
            reply, chunks = ["500 Internal Server Error", []], []
        self._respond(reply[0], reply[1], b"".join(chunks))

    def _respond(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _MotoServer:
    """moto's server mode on a werkzeug thread, like moto's ThreadedMotoServer plus `_AtomicDynamoDB`."""

    def __init__(self, host: str, port: int, wakeups: Wakeups | None = None) -> None:
        self.port = port
        self.wakeups = wakeups or Wakeups()
        app = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app), self.wakeups)
        self.dynamodb_lock = app.lock
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_MotoHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


class Moto:
    """moto's server mode in-process: one endpoint serves every service, streams and Scheduler too."""

    def __init__(self) -> None:
        os.environ.update(FAKE_ENV)
        moto_transactions.install()
        moto_queries.install()
        moto_hot_paths.install()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = _MotoServer("127.0.0.1", self.port)
        self.wakeups = self._server.wakeups
        self._config = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32)
        self._session = boto3.session.Session()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def ttl_candidates(
        self, table_name: str, attribute: str, floor: int, horizon: int
    ) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
        """The keys and TTL value of every item whose TTL (a number) lies in [floor, horizon], read from the
        backend under the DynamoDB lock: a Scan through moto would sort the whole table and deep-copy every
        item before its filter, holding that lock (every handler's DynamoDB call waits) for the whole pass,
        several times a second. None when a key is not a string or number (the sweeper scans instead)."""
        from moto.dynamodb.models import dynamodb_backends

        found: list[tuple[dict[str, Any], dict[str, Any]]] = []
        with self._server.dynamodb_lock:
            table = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.get(table_name)
            if table is None:
                return found
            key_names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
            for item in every_item(table):
                ttl = item.attrs.get(attribute)
                if ttl is None or ttl.type != "N":
                    continue
                try:
                    due = float(ttl.value)
                except (TypeError, ValueError):
                    continue
                if not floor <= due <= horizon:
                    continue
                keys = {}
                for name in key_names:
                    key = item.attrs[name]
                    if key.type not in ("S", "N"):
                        return None
                    keys[name] = {key.type: key.value}
                found.append((keys, {"N": ttl.value}))
        return found

    def client(self, service: str) -> Any:
        """One client per service, shared: a botocore client costs ~0.25 s to create and is thread-safe."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._create(service)
            return self._clients[service]

    def _create(self, service: str) -> Any:
        return self._session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.url,
            region_name=REGION,
            config=self._config,
            **_MOTO_CREDENTIALS,
        )


def generate_secret_string(spec: dict[str, Any]) -> str:
    """Secrets Manager's GenerateSecretString, done locally (moto's server does not run CloudFormation)."""
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded) or string.ascii_letters
    length = int(spec.get("PasswordLength", 32))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    if "SecretStringTemplate" in spec and "GenerateStringKey" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


class ResourceBuilder:
    """Creates each supported resource type from its resolved template definition, in dependency order."""

    def __init__(
        self,
        template: Template,
        aws: Callable[[str], Any],
        config: RuntimeConfig,
        placeholders: dict[str, str],
        log: logging.Logger,
    ) -> None:
        self.template = template
        self.aws = aws
        self.config = config
        self.placeholders = placeholders
        self.log = log
        self.created: dict[str, str] = {}

    def create_all(self) -> dict[str, str]:
        steps: list[tuple[str, Callable[[str, dict[str, Any]], None]]] = [
            ("AWS::KMS::Key", self._kms_key),
            ("AWS::KMS::Alias", self._kms_alias),
            ("AWS::DynamoDB::Table", self._table),
            ("AWS::Events::EventBus", self._event_bus),
            ("AWS::Scheduler::ScheduleGroup", self._schedule_group),
            ("AWS::SecretsManager::Secret", self._secret),
            ("AWS::SSM::Parameter", self._ssm_parameter),
            ("AWS::SQS::Queue", self._queue),
            ("AWS::SNS::Topic", self._topic),
        ]
        for type_name, create in steps:
            # Re-resolve before each type: a later type may reference an id moto just generated.
            self.template.resolve()
            for lid, resource in self.template.of_type(type_name).items():
                create(lid, resource["Properties"])
                self.created[lid] = type_name
        self.template.resolve()
        return self.created

    def _kms_key(self, lid: str, props: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {
            "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            "Description": props.get("Description", lid),
        }
        if "KeyPolicy" in props:
            kwargs["Policy"] = json.dumps(props["KeyPolicy"])
        meta = self.aws("kms").create_key(**kwargs)["KeyMetadata"]
        self.template.set_physical(lid, meta["KeyId"], Arn=meta["Arn"], KeyId=meta["KeyId"])

    def _kms_alias(self, lid: str, props: dict[str, Any]) -> None:
        self.aws("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])

    def _table(self, lid: str, props: dict[str, Any]) -> None:
        client = self.aws("dynamodb")
        name = self.template.physical_id(lid)
        create_table_from_definition(client, props, name)
        table = client.describe_table(TableName=name)["Table"]
        attributes: dict[str, Any] = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        self.template.set_physical(lid, name, **attributes)

    def _event_bus(self, lid: str, props: dict[str, Any]) -> None:
        name = props["Name"]
        if name != "default":
            arn = self.aws("events").create_event_bus(Name=name)["EventBusArn"]
            self.template.set_physical(lid, name, Arn=arn, Name=name)

    def _schedule_group(self, lid: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self.template.physical_id(lid)
        arn = self.aws("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        self.template.set_physical(lid, name, Arn=arn)

    def _secret(self, lid: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self.template.physical_id(lid).rsplit(":", 1)[-1]
        value = self.config.secret_value(lid, self.placeholders)
        if value is None and "SecretString" in props:
            value = str(props["SecretString"])
        if value is None:
            value = generate_secret_string(props.get("GenerateSecretString", {}))
        created = self.aws("secretsmanager").create_secret(Name=name, SecretString=value)
        self.template.set_physical(lid, created["ARN"], Arn=created["ARN"])

    def _ssm_parameter(self, lid: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self.template.physical_id(lid)
        self.aws("ssm").put_parameter(Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"))
        self.template.set_physical(lid, name)

    def _queue(self, lid: str, props: dict[str, Any]) -> None:
        name = props.get("QueueName") or self.template.physical_id(lid)
        attributes = {
            k: str(props[k])
            for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if k in props
        }
        if props.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        client = self.aws("sqs")
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.template.set_physical(lid, url, Arn=arn, QueueName=name, QueueUrl=url)

    def _topic(self, lid: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or self.template.physical_id(lid).rsplit(":", 1)[-1]
        arn = self.aws("sns").create_topic(Name=name)["TopicArn"]
        self.template.set_physical(lid, arn, Arn=arn, TopicName=name)
