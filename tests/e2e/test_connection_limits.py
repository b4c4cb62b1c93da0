"""Slow and greedy clients against a real ``cstar serve`` over raw sockets: headers that never
end, bodies that stop, trickle or fall short of their ``Content-Length``, unread bodies,
oversized headers, and more connections than the server allows.

Timeouts are set short through the settings; every wait is bounded generously, and what is
asserted is how the server answers, never how fast."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

#: How long a test waits for the server to do what it should before failing.
PATIENCE = 20.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: The server closed the connection after answering.
    closed: bool

    def error(self) -> dict[str, Any]:
        envelope: dict[str, Any] = json.loads(self.body)
        assert envelope["success"] is False
        assert envelope["error"]["request_id"] == self.headers["x-request-id"]
        error: dict[str, Any] = envelope["error"]
        return error


def parse(data: bytes, *, closed: bool) -> Answer | None:
    """The first response in ``data``, once it is complete."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(rest) < length:
        return None
    return Answer(int(status_line.split()[1]), headers, rest[:length], closed)


def address(server: RunningServer) -> tuple[str, int]:
    url = urlsplit(server.base_url)
    assert url.hostname is not None
    assert url.port is not None
    return url.hostname, url.port


def connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(address(server), timeout=PATIENCE)


def receive(sock: socket.socket, *, until_closed: bool, trickle: bytes = b"") -> Answer:
    """Read the server's answer (and, with ``until_closed``, on to the end of the connection),
    sending ``trickle`` every 0.2 s meanwhile. Fails if that does not happen in time."""
    data = b""
    closed = False
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        answer = parse(data, closed=closed)
        if closed or (answer is not None and not until_closed):
            assert answer is not None, f"closed without an answer: {data!r}"
            return answer
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            data += chunk
            closed = not chunk
        elif trickle:
            try:
                sock.sendall(trickle)
            except OSError:
                closed = True
    raise AssertionError(f"still open after {PATIENCE}s; received {data!r}")


def wait_closed(sock: socket.socket, *, trickle: bytes = b"") -> None:
    """The server closes the connection (while the client trickles ``trickle``)."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            try:
                if not sock.recv(65536):
                    return
            except ConnectionResetError:
                return
        elif trickle:
            try:
                sock.sendall(trickle)
            except OSError:
                return
    raise AssertionError(f"the server kept the connection open for {PATIENCE}s")


def request_head(
    method: str, path: str, *, key: str | None = None, length: int | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: cstar.test"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def serve(cwd: Path, **env: str) -> RunningServer:
    cwd.mkdir()
    return start_server(cwd, env={"CSTAR_LOG_LEVEL": "WARNING", **env})


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that waits one second for headers and one for a body."""
    server = serve(
        tmp_path_factory.mktemp("quick") / "s",
        CSTAR_HEADER_TIMEOUT="1s",
        CSTAR_BODY_TIMEOUT="1s",
    )
    yield server
    assert server.stop() == 0, server.output
    assert "Traceback" not in server.output, server.output
    assert " ERROR " not in server.output, server.output


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that allows three connections at once."""
    server = serve(tmp_path_factory.mktemp("capped") / "s", CSTAR_MAX_CONNECTIONS="3")
    yield server
    assert server.stop() == 0, server.output
    assert "Traceback" not in server.output, server.output


def events_path(server: RunningServer) -> str:
    assert server.bootstrap is not None
    return f"/api/v1/teams/{server.bootstrap.team_id}/events"


def secret_key(server: RunningServer) -> str:
    assert server.bootstrap is not None
    return server.bootstrap.secret_key


def test_headers_that_never_end_get_408_and_the_connection_closes(quick: RunningServer) -> None:
    with connect(quick) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cstar.test\r\nX-Slow: ")
        answer = receive(sock, until_closed=True, trickle=b"a")
    assert answer.status == 408
    assert answer.closed
    assert answer.headers["connection"] == "close"
    error = answer.error()
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "request_timeout"
    assert "headers" in error["message"]


def test_a_connection_that_sends_nothing_is_closed(quick: RunningServer) -> None:
    with connect(quick) as sock:
        wait_closed(sock)


def test_a_kept_alive_connection_gets_the_same_header_timeout(quick: RunningServer) -> None:
    with connect(quick) as sock:
        sock.sendall(request_head("GET", "/healthz"))
        assert receive(sock, until_closed=False).status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        answer = receive(sock, until_closed=True, trickle=b"a")
    assert answer.status == 408
    assert answer.error()["code"] == "request_timeout"


BODY = json.dumps({"type": "customer.created", "data": {}}).encode()


@pytest.mark.parametrize(
    ("declared", "sent", "trickle"),
    [
        pytest.param(len(BODY), BODY[:10], b"", id="body-that-stops"),
        pytest.param(len(BODY) + 20, BODY, b"", id="body-shorter-than-content-length"),
        pytest.param(100_000, b"", b" ", id="body-sent-a-byte-at-a-time"),
    ],
)
def test_a_body_that_does_not_arrive_in_time_gets_408(
    quick: RunningServer, declared: int, sent: bytes, trickle: bytes
) -> None:
    with connect(quick) as sock:
        head = request_head("POST", events_path(quick), key=secret_key(quick), length=declared)
        sock.sendall(head + sent)
        answer = receive(sock, until_closed=True, trickle=trickle)
    assert answer.status == 408
    assert answer.closed
    assert answer.headers["connection"] == "close"
    error = answer.error()
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "request_timeout"
    assert "body" in error["message"]


def test_a_stream_whose_request_body_never_comes_ends_cleanly(quick: RunningServer) -> None:
    stream = events_path(quick) + "/stream"
    with connect(quick) as sock:
        sock.sendall(request_head("GET", stream, key=secret_key(quick), length=50) + b"{")
        data = b""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(b"\r\n0\r\n\r\n")  # the last chunk: a finished response, then closed


def test_an_unread_body_does_not_hold_the_connection(quick: RunningServer) -> None:
    # Refused before its body is read (no key); the client then trickles the body for ever.
    with connect(quick) as sock:
        sock.sendall(request_head("POST", events_path(quick), length=200_000) + b"{")
        answer = receive(sock, until_closed=False)
        assert answer.status == 401
        wait_closed(sock, trickle=b" ")


def test_an_unread_body_that_arrives_in_full_closes_the_connection(quick: RunningServer) -> None:
    with connect(quick) as sock:
        sock.sendall(request_head("POST", events_path(quick), length=len(BODY)))
        answer = receive(sock, until_closed=False)
        assert answer.status == 401
        sock.sendall(BODY)
        wait_closed(sock)


def test_a_request_in_time_is_served_on_a_kept_alive_connection(quick: RunningServer) -> None:
    with connect(quick) as sock:
        for _ in range(2):
            head = request_head("POST", events_path(quick), key=secret_key(quick), length=len(BODY))
            sock.sendall(head + BODY)
            answer = receive(sock, until_closed=False)
            assert answer.status == 202, answer.body
            assert not answer.closed


def test_headers_larger_than_the_limit_get_431(capped: RunningServer) -> None:
    with connect(capped) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 100_000)
        answer = receive(sock, until_closed=True)
    assert answer.status == 431
    assert answer.error()["code"] == "request_header_too_large"


def test_connections_beyond_the_limit_get_503_until_one_closes(capped: RunningServer) -> None:
    stream = f"/api/v1/teams/{events_path(capped).split('/')[4]}/events/stream"
    held = [connect(capped) for _ in range(3)]
    try:
        for sock in held:  # three open realtime streams: connections in use, not idle
            sock.sendall(request_head("GET", stream, key=secret_key(capped)))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, "stream closed"
                head += chunk
            assert head.startswith(b"HTTP/1.1 200"), head
        with connect(capped) as extra:
            extra.sendall(request_head("GET", "/healthz"))
            answer = receive(extra, until_closed=True)
        assert answer.status == 503
        assert answer.closed
        assert int(answer.headers["retry-after"]) >= 1
        error = answer.error()
        assert (error["type"], error["code"]) == ("api_error", "service_unavailable")
    finally:
        held.pop().close()
    try:
        deadline = time.monotonic() + PATIENCE
        while True:  # the server notices the closed connection; then a new one is served
            with connect(capped) as sock:
                sock.sendall(request_head("GET", "/healthz"))
                status = receive(sock, until_closed=False).status
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200
    finally:
        for sock in held:
            sock.close()
