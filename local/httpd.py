"""What the local HTTP servers (the AWS endpoint gateway, the HTTP API) share."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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

    def reply_streamed(self, status: int, headers: Iterable[tuple[str, str]], chunks: Iterator[bytes]) -> None:
        """Answer with each chunk as it comes (chunked transfer encoding): an event stream. A client
        that goes away ends it; the iterator is closed either way."""
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server for which a client that goes away mid-request is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            # A load generator stopping its users, a client timing out: the client is gone, and
            # with it whoever could read the answer. Not worth a traceback on the console.
            log.debug("client %s went away: %s", client_address, error)
            return
        super().handle_error(request, client_address)
