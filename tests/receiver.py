"""A real HTTP receiver for delivery tests: records every request, answers as planned."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering.
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    #: The client's (address, port): one per connection, so it shows connection reuse.
    peer: tuple[str, int] | None = None

    def header(self, name: str) -> str:
        return self.headers[name.lower()]


class Receiver:
    """``plan(path, Reply(500), Reply(500))`` answers the next requests to ``path`` in order,
    then ``then`` (200 by default) for ever after."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._plans: dict[str, deque[Reply]] = defaultdict(deque)
        self._then: dict[str, Reply] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._arrived = asyncio.Event()
        self._in_flight: dict[str, int] = defaultdict(int)
        #: The most requests ever in flight at once, per path.
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self._in_flight_total = 0
        #: The most requests ever in flight at once, all paths together.
        self.max_in_flight_total = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        self._plans[path].extend(replies)
        if then is not None:
            self._then[path] = then

    def received(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if path is None or r.path == path]

    async def wait_for(
        self,
        count: int,
        path: str | None = None,
        *,
        timeout: float = 15.0,
        where: Callable[[Received], bool] | None = None,
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            matching = [r for r in self.received(path) if where is None or where(r)]
            if len(matching) >= count:
                return matching
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"expected {count} requests to {path or 'any path'}, got {len(matching)}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Received(
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                at=time.time(),
                peer=request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        self._arrived.set()
        plan = self._plans.get(request.path)
        reply = plan.popleft() if plan else self._then.get(request.path, Reply())
        path = request.path
        self._in_flight[path] += 1
        self.max_in_flight[path] = max(self.max_in_flight[path], self._in_flight[path])
        self._in_flight_total += 1
        self.max_in_flight_total = max(self.max_in_flight_total, self._in_flight_total)
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        finally:
            self._in_flight[path] -= 1
            self._in_flight_total -= 1


class HungEndpoint:
    """Accepts connections and reads requests, and never answers (a stalled endpoint)."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self, path: str = "/hung") -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}{path}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        while await reader.read(65536):
            pass

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
