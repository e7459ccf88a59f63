"""The HTTP API on 127.0.0.1:3000 (the port of `sam local start-api`), in front of the ingest function.

Each request becomes an API Gateway HTTP API payload-format-2.0 event for the real handler. What API
Gateway itself answers is reproduced: 404 for an unknown route, 429 ``{"message":"Too Many
Requests"}`` above the route's throttling (rate and burst, a token bucket, from template.yaml), 503
when the function's concurrency is exhausted, 500 for a function error.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.awslambda.functions import FunctionPool, ThrottledError
from local.httpd import LoopbackHandler, LoopbackServer

log = logging.getLogger("weir.api")
DEFAULT_PORT = 3000


class RouteThrottle:
    """API Gateway's token bucket: ``rate`` requests/s steady, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.last = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class _Handler(LoopbackHandler):
    server: ApiServer

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.reply(status, [*headers.items(), ("apigw-requestid", str(uuid.uuid4()))], body)

    def _message(self, status: int, message: str) -> None:
        self._reply(status, json.dumps({"message": message}).encode(), {"Content-Type": "application/json"})

    def handle_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        route = f"{self.command} {split.path}"
        api = self.server
        if route not in api.routes:
            self._message(404, "Not Found")
            return
        if not api.throttle.take():
            self._message(429, "Too Many Requests")
            return
        event = self._event(route, split.path, split.query, body)
        try:
            result = api.routes[route].invoke(event, wait=0)
        except ThrottledError:
            self._message(503, "Service Unavailable")
            return
        if not result.ok or not isinstance(result.payload, dict) or "statusCode" not in result.payload:
            log.warning("integration error: %s", result.payload)
            self._message(500, "Internal Server Error")
            return
        response = result.payload
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
        self._reply(int(response["statusCode"]), data, {k: str(v) for k, v in (response.get("headers") or {}).items()})

    def _event(self, route: str, path: str, query: str, body: bytes) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": headers.get("host", "127.0.0.1"),
                "domainPrefix": "local",
                "http": {
                    "method": self.command,
                    "path": path,
                    "protocol": self.request_version,
                    "sourceIp": self.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if query:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in parse_qs(query).items()}
        if body:
            event["body"] = text
        return event


class ApiServer(LoopbackServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: dict[str, FunctionPool], throttle: RouteThrottle) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.throttle = throttle
