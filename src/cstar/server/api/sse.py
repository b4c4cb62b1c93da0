"""A ``text/event-stream`` response that stops as soon as the client goes away.

Starlette's ``StreamingResponse`` notices a disconnect only on its next write under newer ASGI
servers; a quiet stream could hold its subscription until the next heartbeat. This response
watches ``http.disconnect`` alongside the stream, and always runs ``on_close``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

HEADERS = {
    "cache-control": "no-cache",
    # nginx and similar proxies: pass each frame on at once.
    "x-accel-buffering": "no",
}


class EventStreamResponse(StreamingResponse):
    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        on_close: Callable[[], None],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            frames, media_type="text/event-stream", headers={**HEADERS, **(headers or {})}
        )
        self._frames = frames
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": self.raw_headers,
                }
            )
            pump = asyncio.create_task(self._pump(send))
            watch = asyncio.create_task(_disconnected(receive))
            done: set[asyncio.Task[None]] = set()
            try:
                done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, watch):
                    task.cancel()
                for task in (pump, watch):
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
            if pump not in done:
                # The client went away, or the server gave up on it (its request body never
                # came): end the response properly; a server drops this when nobody listens.
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with contextlib.suppress(Exception):
                await self._frames.aclose()  # type: ignore[attr-defined]
            self._on_close()

    async def _pump(self, send: Send) -> None:
        async for chunk in self._frames:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
