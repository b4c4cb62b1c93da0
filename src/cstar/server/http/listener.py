"""Listening sockets and the uvicorn server that serves them, shared by the API's port and the
metrics port."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from cstar.server.bootstrap import StartupError


class ListenError(StartupError):
    """The address cannot be listened on; the message says why, in one line."""


class QuietServer(uvicorn.Server):
    """uvicorn's server without its own signal capture: the runner owns SIGINT and SIGTERM, so
    that shutdown finishes our cleanup and exits 0 instead of re-raising the signal."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_listener(host: str, port: int, *, option: str = "--port") -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is one line
    (naming ``option``, what chooses another port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ListenError(f"cannot listen on {host!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} is already in use on {host}; choose another with {option}"
            ) from None
        raise ListenError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock
