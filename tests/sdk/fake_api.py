"""A stand-in for the API on a real local socket (127.0.0.1), answering from a script: for
what the real server will not do on demand (a 503, a 429 with a short Retry-After, a slow or
non-JSON answer) and to count the requests that arrive."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

TEAM_ID = "team_fake"
WEBHOOK = {
    "id": "whk_fake",
    "name": "fake",
    "url": "https://example.com/hook",
    "events": ["ticket.created"],
    "isActive": True,
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:00:00Z",
}
PUBLISHED = {
    "id": "evt_fake",
    "type": "ticket.created",
    "createdAt": "2026-01-01T00:00:00Z",
    "deliveriesQueued": 0,
    "replayed": False,
}


def envelope(data: Any, *, pagination: dict[str, Any] | None = None) -> bytes:
    meta: dict[str, Any] = {"requestId": "req_fake", "timestamp": "2026-01-01T00:00:00Z"}
    if pagination is not None:
        meta["pagination"] = pagination
    return json.dumps({"success": True, "data": data, "meta": meta}).encode()


EMPTY_LIST = envelope([], pagination={"limit": 20, "hasMore": False, "nextCursor": None})


@dataclass(frozen=True)
class Canned:
    status: int = 200
    body: bytes = EMPTY_LIST
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    #: Seconds to wait before answering.
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is expected; say nothing."""


class FakeAPI:
    """``plan(Canned(503), Canned(200))`` answers the next requests in order, then ``then``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._replies: deque[Canned] = deque()
        self._then = Canned()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def plan(self, *replies: Canned, then: Canned | None = None) -> None:
        with self._lock:
            self._replies.extend(replies)
            if then is not None:
                self._then = then

    def _next(self, seen: Seen) -> Canned:
        with self._lock:
            self.requests.append(seen)
            return self._replies.popleft() if self._replies else self._then

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._next(Seen(self.command, self.path, headers, body))
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("X-Request-Id", "req_fake")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
