"""The handles SDK tests get on the real server and on the webhook receiver."""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass
from typing import Any

from tests.receiver import Received, Receiver, Reply


@dataclass(frozen=True)
class ApiServer:
    backend: str
    base_url: str
    team_id: str
    secret_key: str
    publishable_key: str
    #: A second team on the same server: its id with our key must be refused.
    other_team_id: str

    def client_kwargs(self) -> dict[str, Any]:
        return {"api_key": self.secret_key, "team_id": self.team_id, "base_url": self.base_url}


class ThreadedReceiver:
    """``tests.receiver.Receiver`` on an event loop in its own thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._receiver = Receiver()

    def _run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        self._thread.start()
        self._run(self._receiver.start())

    def stop(self) -> None:
        self._run(self._receiver.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def url(self, path: str) -> str:
        return self._receiver.url(path)

    def plan(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        async def plan() -> None:
            self._receiver.plan(path, *replies, then=then)

        self._run(plan())

    def received(self, path: str | None = None) -> list[Received]:
        """What has arrived so far (from any thread)."""
        return list(self._receiver.received(path))

    async def wait_for(self, count: int, path: str, *, timeout: float = 15.0) -> list[Received]:
        waiting = functools.partial(self._receiver.wait_for, count, path, timeout=timeout)
        future = asyncio.run_coroutine_threadsafe(waiting(), self._loop)
        result: list[Received] = await asyncio.wrap_future(future)
        return result
