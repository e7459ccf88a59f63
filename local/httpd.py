"""What the local HTTP servers (the AWS endpoint gateway, the HTTP API) share."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

log = logging.getLogger("weir.httpd")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, TCP_NODELAY, and one way to answer."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's algorithm holds
        # the body until the client's delayed ACK (about 40 ms per call on Linux loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def handle_request(self) -> None:
        raise NotImplementedError

    # Every method goes to one place; each server decides what it answers to.
    def do_GET(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def do_PUT(self) -> None:
        self.handle_request()

    def do_DELETE(self) -> None:
        self.handle_request()

    def do_HEAD(self) -> None:
        self.handle_request()

    def reply(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Answer with ``body``; hop-by-hop headers are dropped and Content-Length set."""
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
