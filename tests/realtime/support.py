"""Reading a stream as a client does, with bounded waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent


@dataclass
class Received:
    events: list[ServerSentEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ids(self) -> list[int]:
        return [int(e.id) for e in self.events]

    @property
    def types(self) -> list[str]:
        return [e.event for e in self.events]

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(e.data) for e in self.events]

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()


@asynccontextmanager
async def reading(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    *,
    params: dict[str, str] | None = None,
) -> AsyncIterator[Received]:
    """Open the stream (subscribed once the headers arrive) and collect events until exit."""
    received = Received()
    async with http.stream("GET", url, headers=headers, params=params) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")

        async def collect() -> None:
            async for sse in EventSource(response).aiter_sse():
                if not sse.data:  # the opening ``retry:`` frame
                    continue
                received.events.append(sse)
                received.arrived.set()

        task = asyncio.create_task(collect())
        try:
            yield received
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
