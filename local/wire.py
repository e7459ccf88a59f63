"""AWS calls as the gateway sees them on the wire: which service and operation a request is, what
answers it, how an error is written in the caller's protocol, and forwarding to a backend."""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.faults import Fault
from local.httpd import HOP_BY_HOP

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGET_PREFIX_SERVICE = {"Kinesis_": "kinesis", "DynamoDB_": "dynamodb", "AmazonSQS": "sqs"}


@dataclass(frozen=True)
class Backend:
    host: str
    port: int


@dataclass
class Call:
    """One AWS call as the gateway sees it."""

    service: str
    operation: str
    params: dict[str, Any]
    json_protocol: bool


@dataclass(frozen=True)
class Request:
    """The HTTP request behind a call, as the client sent it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fault: Fault | None = None  # a per-entry fault picked for this call


# An answer: status, headers, and the body (an iterator of chunks for a streamed answer).
Answer = tuple[int, list[tuple[str, str]], "bytes | Iterator[bytes]"]
Route = Callable[[Call, Request], Answer]
# A single call of the gateway's own to a backend: (operation, params) -> (status, parsed answer).
SingleCall = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


def service_of(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str:
    auth = headers.get("Authorization", "")
    found = _SCOPE.search(auth)
    if not found and "X-Amz-Credential" in query:
        found = _SCOPE.search("Credential=" + query["X-Amz-Credential"][0])
    if found:
        return found.group(1).lower()
    target = headers.get("X-Amz-Target", "")
    for prefix, service in _TARGET_PREFIX_SERVICE.items():
        if target.startswith(prefix):
            return service
    return "unknown"


def describe_call(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
    split = urlsplit(path)
    query = parse_qs(split.query, keep_blank_values=True)
    service = service_of(headers, query)
    target = headers.get("X-Amz-Target")
    params: dict[str, Any] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            loaded = json.loads(body or b"{}")
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
        return Call(service, operation, params, json_protocol=True)
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        params = {k: v[0] for k, v in form.items()}
        return Call(service, params.get("Action", ""), params, json_protocol=False)
    if "/operation/" in split.path:  # Smithy RPC v2 (CBOR)
        return Call(service, split.path.rsplit("/", 1)[-1], params, json_protocol=False)
    if service == "s3":
        return Call(service, _s3_operation(method, split.path, query), {"Bucket": _s3_bucket(split.path)}, False)
    if service == "lambda" and split.path.endswith("/invocations"):
        return Call(service, "Invoke", {"FunctionName": split.path.split("/")[-2]}, False)
    return Call(service, method, params, json_protocol=False)


def _s3_bucket(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def _s3_operation(method: str, path: str, query: Mapping[str, list[str]]) -> str:
    has_key = "/" in path.lstrip("/")
    if method == "GET":
        return "GetObject" if has_key else ("ListObjectsV2" if "list-type" in query else "ListObjects")
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return method


class _Connections(threading.local):
    """One persistent connection per backend per gateway thread."""

    def __init__(self) -> None:
        self.connections: dict[Backend, http.client.HTTPConnection] = {}


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """False when the peer has closed an idle kept-alive connection (it reads as end of file)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable or sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


class Forwarder:
    """Sends a request on to a backend over a kept-alive connection of the calling thread."""

    def __init__(self) -> None:
        self._local = _Connections()

    def forward(
        self, backend: Backend, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        send_headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        send_headers["Content-Length"] = str(len(body))
        connection = self._local.connections.get(backend)
        if connection is not None and not _still_open(connection):
            # The backend closed this kept-alive connection while it was idle: nothing was sent on
            # it, so a new connection is safe.
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(backend.host, backend.port, timeout=120)
            connection.connect()
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.connections[backend] = connection
        try:
            connection.request(method, path, body=body, headers=send_headers)
            response = connection.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            # Never sent again: once a byte is out, the backend may have applied the request (a
            # PutRecords written twice is a duplicate nobody asked for). The client's SDK decides.
            connection.close()
            self._local.connections.pop(backend, None)
            raise
        return response.status, response.getheaders(), data


def without_length(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in {"content-length", "x-amz-crc32"}]


def json_headers(version: str = "1.0") -> list[tuple[str, str]]:
    return [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", str(uuid.uuid4()))]


def error_body(
    call: Call, code: str, message: str, status: int, query_code: str | None = None
) -> tuple[list[tuple[str, str]], bytes]:
    """An error in the wire format the caller's protocol expects. ``query_code`` is the code a service
    that began on the query protocol answers in x-amzn-query-error (SQS's AWS.SimpleQueueService.*)."""
    request_id = str(uuid.uuid4())
    if call.json_protocol:
        content_type = "application/x-amz-json-1.1" if call.service == "kinesis" else "application/x-amz-json-1.0"
        body = json.dumps({"__type": code, "message": message}).encode()
        return [
            ("Content-Type", content_type),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-query-error", f"{query_code or code};{'Receiver' if status >= 500 else 'Sender'}"),
        ], body
    if call.service == "s3":
        xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return [("Content-Type", "application/xml")], xml.encode()
    kind = "Receiver" if status >= 500 else "Sender"
    xml = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{query_code or code}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return [("Content-Type", "text/xml")], xml.encode()
