"""A tiny real HTTP server on loopback that the platform replicas plug into.

Replicas are real sockets, so the collectors under test go through httpx, TCP, chunking,
timeouts and dropped connections exactly as they would against the platforms. A replica is a
function from :class:`ReplicaRequest` to :class:`ReplicaResponse`; this module does the
serving, the byte-level faults (a connection dropped mid-body, a slow drip) and the request log.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(slots=True)
class ReplicaRequest:
    """An incoming request, parsed."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class ReplicaResponse:
    """What to send back, and how to misbehave while sending it."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"
    #: Close the socket after this many body bytes (a dropped connection mid-body).
    drop_after: int | None = None
    #: Seconds to wait before sending the headers (a slow server, a timeout).
    delay: float = 0.0
    #: Announce this Content-Length instead of the real one (truncated bodies).
    content_length: int | None = None


Handler = Callable[[ReplicaRequest], ReplicaResponse]


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients wait for a
    # delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log; the replica keeps its own."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = ReplicaRequest(
            method=self.command,
            path=split.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        with self.server.log_lock:
            self.server.requests.append(request)
        try:
            response = self.server.handler(request)
        except Exception as exc:  # a replica bug must show up as a 500, not a hung client
            response = ReplicaResponse(status=500, body=f"replica error: {exc!r}".encode())
        if response.delay:
            time.sleep(response.delay)
        chunks = [response.body] if isinstance(response.body, bytes) else response.body
        if isinstance(response.body, bytes):
            total: int | None = len(response.body)
        else:
            total = response.content_length
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        announced = response.content_length if response.content_length is not None else total
        if announced is not None:
            self.send_header("Content-Length", str(announced))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        sent = 0
        for chunk in chunks:
            if response.drop_after is not None and sent + len(chunk) >= response.drop_after:
                self.wfile.write(chunk[: max(0, response.drop_after - sent)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)
            sent += len(chunk)
        if response.content_length is not None and response.content_length != sent:
            self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: Handler) -> None:
        super().__init__(address, _RequestHandler)
        self.handler = handler
        self.requests: list[ReplicaRequest] = []
        self.log_lock = threading.Lock()

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """A client that hangs up (timeouts, tests of dropped connections) is expected."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class ReplicaServer:
    """Serve ``handler`` on 127.0.0.1 in a background thread.

    Use as a context manager; ``url`` is the base URL to put in ``config.yaml``.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), handler)
        # A short poll interval: ``stop()`` waits one interval, and tests start many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        # the bound (host, port); ``server_address`` is the same, typed for any address family
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[ReplicaRequest]:
        """Every request received so far (a copy)."""
        with self._server.log_lock:
            return list(self._server.requests)

    def start(self) -> ReplicaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ReplicaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
