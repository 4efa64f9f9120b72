"""A real HTTP server on 127.0.0.1 in a thread, standing in for model servers in tests.

Real sockets rather than a mock transport, so that the client's own connection handling
(refused connections, timeouts, dropped connections, streamed bodies) is what gets tested.

Example::

    with StubServer() as stub:
        stub.route("POST", "/v1/chat/completions", Reply(500), Reply(body={"choices": []}))
        ...  # the first request gets HTTP 500, every later one the JSON body
        assert stub.requests[0].json()["model"] == "m"
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """One canned answer. ``body`` dicts and lists go out as JSON; ``chunks`` are streamed."""

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    #: Written and flushed one by one (SSE events, NDJSON lines); the connection then closes.
    chunks: Sequence[bytes | str] | None = None
    content_type: str | None = None
    #: Seconds to wait before answering (cut short when the stub stops).
    delay: float = 0.0
    #: Close the connection without answering at all.
    drop: bool = False


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Reply | Callable[[Request], Reply]


@dataclass
class _Route:
    replies: list[Responder]
    served: int = 0

    def next(self, request: Request) -> Reply:
        responder = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return responder(request) if callable(responder) else responder


@dataclass
class StubServer:
    """Routes ``(method, path)`` to canned replies, played in order (the last one repeats)."""

    requests: list[Request] = field(default_factory=list)
    _routes: dict[tuple[str, str], _Route] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def route(self, method: str, path: str, *replies: Responder) -> None:
        if not replies:
            raise ValueError("route() needs at least one reply")
        with self._lock:
            self._routes[(method.upper(), path)] = _Route(list(replies))

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StubServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get((request.method, request.path))
            if route is None:
                return Reply(404, {"error": f"no route for {request.method} {request.path}"})
            return route.next(request)


def free_port() -> int:
    """A port nothing listens on right now (for a server to start on, or to find none at)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _encode(data: bytes | str | dict[str, Any] | list[Any] | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data).encode()


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: every answer ends by closing the connection, streamed ones included.
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("stub: " + format, *args)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            reply = stub._answer(request)
            if reply.delay and stub._stopping.wait(reply.delay):
                return
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(reply.status)
            json_body = isinstance(reply.body, dict | list)
            default_type = "application/json" if json_body else "text/plain"
            self.send_header("Content-Type", reply.content_type or default_type)
            if reply.chunks is None:
                payload = _encode(reply.body)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.end_headers()
            for chunk in reply.chunks:
                self.wfile.write(_encode(chunk))
                self.wfile.flush()

    return Handler
