"""uvicorn's httptools protocol with the limits it lacks for a server facing the internet.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``). This subclass adds:

- a header timeout: from the moment a connection opens, or the first byte of each later request,
  the request line and headers must be complete within ``header_timeout``. A request that began
  gets 408 in the error envelope; a connection that never sent a byte is closed;
- a size limit on the request line and headers (httptools buffers them whole, without limit):
  beyond ``MAX_HEAD_BYTES``, 431;
- a connection cap: beyond ``max_connections`` open connections, a new connection's request is
  answered 503 (``Retry-After``) without reaching the application, and the connection closed;
- a bound on bodies nobody reads: when a response is complete before its request's body has
  arrived (401, 413...), the rest of the body is read and dropped for at most ``body_timeout``,
  then the connection closes (uvicorn would otherwise keep a trickling body open for ever).

The body timeout of a body the application reads is :mod:`cstar.server.http.body_deadline`.
Every answer here closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from cstar.server.http import answers
from cstar.server.http.body_deadline import BODY_ARRIVAL, BodyArrival

log = logging.getLogger(__name__)

#: The request line and headers together: far above any real request of this API (a URL of a
#: few kilobytes, a key), far below what would let a connection hold much memory.
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = limits
        #: Between the first byte of a request and the end of its headers.
        self._in_head = False
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        #: Closes a connection whose answered request's body is still arriving.
        self._drain_timer: asyncio.TimerHandle | None = None

    # -- connection --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            log.debug("connection limit reached (%d)", self._limits.max_connections)
            self.app = answers.over_capacity
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_timer, self._drain_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._drain_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(
                    431,
                    "invalid_request_error",
                    "request_header_too_large",
                    f"The request line and headers exceed {MAX_HEAD_BYTES} bytes",
                )

    # -- parser callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.scope[BODY_ARRIVAL] = BodyArrival()  # type: ignore[literal-required]
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and cycle.scope is self.scope:
            arrival = self.scope.get(BODY_ARRIVAL)
            if isinstance(arrival, BodyArrival):
                arrival.complete = True
        if self._drain_timer is not None:
            # The body of a request answered earlier has now arrived in full.
            self._close()

    def on_response_complete(self) -> None:
        body_unread = self.cycle is not None and self.cycle.more_body
        super().on_response_complete()
        if body_unread and not self.transport.is_closing() and self._drain_timer is None:
            self._drain_timer = self.loop.call_later(self._limits.body_timeout, self._close)

    # -- timers and answers ------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self._limits.header_timeout, self._head_timed_out
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head:  # opened, or kept alive, without sending a byte
            self._close()
            return
        self._refuse(
            408,
            "invalid_request_error",
            "request_timeout",
            f"The request headers did not arrive within {self._limits.header_timeout:g}s",
        )

    def _refuse(self, status: int, type_: str, code: str, message: str) -> None:
        """Answer ``status`` and close; just close while another response is under way."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                answers.raw_error(
                    status,
                    type_=type_,
                    code=code,
                    message=message,
                    extra_headers=self.server_state.default_headers,
                )
            )
        self._close()

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()
