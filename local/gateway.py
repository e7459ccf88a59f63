"""One AWS endpoint for every service, on 127.0.0.1:4566.

Every SigV4-signed request names its service in the credential scope of its Authorization
header (``.../us-east-1/kinesis/aws4_request``). The gateway routes each call by a table of
(service, operation) to what answers it: each service's own folder (:mod:`local.kinesis.api` in front
of kinesalite, :mod:`local.dynamodb.api` in front of dynalite, :mod:`local.sqs.api` in front of moto),
the local stack's Lambda API, or moto server for everything else. Before any of them it applies
faults (:mod:`local.faults`), managed at ``/_weir/faults``, so every client (the functions, the AWS
CLI, Locust) meets them the same way.

Control API (JSON): ``GET|POST|DELETE /_weir/faults``, ``DELETE /_weir/faults/<id>``,
``GET|PUT /_weir/limits``, ``GET /_weir/stats`` (records each stream accepted), ``GET /_weir/health``.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from local.dynamodb.api import DynamoDBApi
from local.faults import FaultError, FaultSet
from local.httpd import LoopbackHandler, LoopbackServer
from local.kinesis.api import KinesisApi
from local.kinesis.limits import ShardWriteLimiter
from local.sqs.api import SqsApi
from local.wire import Answer, Backend, Call, Forwarder, Request, Route, describe_call, error_body

log = logging.getLogger("weir.gateway")


class Gateway:
    """Routes and faults. The HTTP server around it is :class:`GatewayServer`."""

    def __init__(
        self,
        kinesis: Backend,
        default: Backend,
        limiter: ShardWriteLimiter | None = None,
        dynamodb: Backend | None = None,
    ) -> None:
        # Services the local runtime answers itself (the Lambda API of the local stack), by name.
        self.services: dict[str, Any] = {}
        self.kinesis = kinesis
        self.default = default
        self.faults = FaultSet()
        self._forwarder = Forwarder()
        self.forward = self._forwarder.forward
        self.kinesis_api = KinesisApi(kinesis, self._forwarder, self.faults, limiter or ShardWriteLimiter())
        # DynamoDB's own backend (dynalite), or moto's with everything else.
        self.dynamodb_api = DynamoDBApi(
            dynamodb or default, self._forwarder, self.faults, fills_gaps=(dynamodb or default) != default
        )
        sqs_api = SqsApi(default, self._forwarder)
        # Every call by (service, operation), then (service, "*"); the rest goes to moto as it came.
        self.routes: dict[tuple[str, str], Route] = (
            self.kinesis_api.routes() | self.dynamodb_api.routes() | sqs_api.routes()
        )

    @property
    def limiter(self) -> ShardWriteLimiter:
        return self.kinesis_api.limiter

    def route(self, call: Call) -> Route:
        """What answers this call."""
        local_service = self.services.get(call.service)
        if local_service is not None:
            return lambda _call, request: local_service(request.method, request.path, request.headers, request.body)
        return self.routes.get((call.service, call.operation)) or self.routes.get((call.service, "*")) or self._moto

    def _moto(self, call: Call, request: Request) -> Answer:
        return self.forward(self.default, request.method, request.path, request.headers, request.body)

    def close(self) -> None:
        self.dynamodb_api.close()


class _Handler(LoopbackHandler):
    server: GatewayServer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any) -> None:
        self.reply(status, [("Content-Type", "application/json")], json.dumps(payload).encode())

    def handle_request(self) -> None:
        try:
            body = self._read_body()
            if self.path.startswith("/_weir/"):
                self._control(body)
                return
            self._proxy(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a gateway bug must answer, not hang the client
            log.exception("gateway error")
            self._json(500, {"message": f"gateway error: {exc}"})

    def _proxy(self, body: bytes) -> None:
        gateway = self.server.gateway
        headers = dict(self.headers.items())
        call = describe_call(self.command, self.path, headers, body)
        fault = gateway.faults.pick(call.service, call.operation, call.params)
        if fault is not None and not fault.per_entry:
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000.0)
            if fault.drop:
                self._drop()
                return
            if fault.error:
                extra, payload = error_body(call, fault.error, fault.message or "Injected fault", fault.status)
                self.reply(fault.status, extra, payload)
                return
        request = Request(self.command, self.path, headers, body, fault)
        status, response_headers, data = gateway.route(call)(call, request)
        if isinstance(data, bytes):
            self.reply(status, response_headers, data)
        else:
            self.reply_streamed(status, response_headers, data)

    def _drop(self) -> None:
        """Close the connection with a TCP reset and no answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _control(self, body: bytes) -> None:
        gateway = self.server.gateway
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/_weir/health":
            self._json(200, {"status": "ok"})
        elif path == "/_weir/faults" and self.command == "GET":
            self._json(200, {"faults": gateway.faults.list()})
        elif path == "/_weir/faults" and self.command == "POST":
            try:
                added = gateway.faults.add_all(json.loads(body or b"null"))
            except (ValueError, FaultError) as exc:
                self._json(400, {"message": f"invalid fault: {exc}"})
                return
            ids = [f.id for f in added]
            self._json(201, {"id": ids[0]} if len(ids) == 1 else {"ids": ids})
        elif path == "/_weir/faults" and self.command == "DELETE":
            self._json(200, {"removed": gateway.faults.remove()})
        elif path.startswith("/_weir/faults/") and self.command == "DELETE":
            removed = gateway.faults.remove(path.rsplit("/", 1)[-1])
            self._json(200 if removed else 404, {"removed": removed})
        elif path == "/_weir/stats" and self.command == "GET":
            self._json(200, {"kinesis_records_written": gateway.kinesis_api.written()})
        elif path == "/_weir/limits" and self.command == "GET":
            limiter = gateway.limiter
            self._json(
                200,
                {
                    "enabled": limiter.enabled,
                    "records_per_second": limiter.records_per_second,
                    "bytes_per_second": limiter.bytes_per_second,
                    "admitted": limiter.admitted,
                    "throttled": limiter.throttled,
                    "reads_admitted": gateway.kinesis_api.read_limiter.admitted,
                    "reads_throttled": gateway.kinesis_api.read_limiter.throttled,
                },
            )
        elif path == "/_weir/limits" and self.command == "PUT":
            try:
                spec = json.loads(body or b"{}")
                limiter = gateway.limiter
                limiter.configure(
                    float(spec.get("records_per_second", limiter.records_per_second)),
                    float(spec.get("bytes_per_second", limiter.bytes_per_second)),
                    bool(spec.get("enabled", limiter.enabled)),
                )
                gateway.kinesis_api.read_limiter.enabled = limiter.enabled
            except (ValueError, TypeError, AttributeError) as exc:
                self._json(400, {"message": f"invalid limits: {exc}"})
                return
            self._json(200, {"enabled": gateway.limiter.enabled})
        else:
            self._json(404, {"message": f"no control endpoint {self.command} {path}"})


class GatewayServer(LoopbackServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway

    def server_close(self) -> None:
        super().server_close()
        self.gateway.close()
