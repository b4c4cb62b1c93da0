"""Waking idle dispatchers when work arrives.

In one process (``cstar serve``) publishing pokes the dispatcher directly. Across processes and
hosts on PostgreSQL, publishers ``NOTIFY`` and every worker ``LISTEN``s on a dedicated connection
(reconnecting if it drops). Polling remains as the fallback: on PostgreSQL it only covers a lost
notification, on SQLite it is how a separate ``cstar worker`` learns of new work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from cstar.server.outage import Outage
from cstar.server.store.channels import DELIVERIES_CHANNEL

log = logging.getLogger(__name__)


class Waker:
    def __init__(self, dsn: str | None, channel: str = DELIVERIES_CHANNEL) -> None:
        """``dsn``: the PostgreSQL database to LISTEN on (``channel``); ``None`` wakes in this
        process only."""
        self._dsn = dsn
        self._channel = channel
        self._events: list[asyncio.Event] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, event: asyncio.Event) -> None:
        self._events.append(event)

    def unsubscribe(self, event: asyncio.Event) -> None:
        with contextlib.suppress(ValueError):
            self._events.remove(event)

    def wake(self) -> None:
        for event in self._events:
            event.set()

    async def start(self) -> None:
        if self._dsn is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(), name=f"cstar-listen-{self._channel}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        outage = Outage(log, f"the LISTEN connection ({self._channel})", first=0.5)
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                await connection.add_listener(self._channel, self._on_notify)
                outage.recovered()
                self.wake()  # catch up with anything published while we were not listening
                await lost.wait()
                delay = outage.failed("the connection was closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = outage.failed(exc)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(delay)

    def _on_notify(self, *_args: Any) -> None:
        self.wake()


def _setter(event: asyncio.Event) -> Any:
    def callback(*_args: Any) -> None:
        event.set()

    return callback
