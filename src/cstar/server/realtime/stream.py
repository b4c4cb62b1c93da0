"""One client's realtime stream as server-sent-event frames: replay, then live, with heartbeats.

A client that reconnects sends back the last ``id`` it saw (``Last-Event-ID``). The stream
registers with the hub first, so nothing published from then on is missed, then replays from the
database what the client missed up to the number the hub will feed it from, then goes live.
Every frame carries the event's number and numbers only grow, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from cstar.server.realtime.hub import EndReason, EventHub, Subscriber
from cstar.server.store.event_log import LoggedEvent

#: Rows per replay query.
REPLAY_BATCH = 500
#: How long a disconnected client should wait before reconnecting (the SSE ``retry`` field).
RECONNECT_MS = 1000
#: The last line of a stream the server ends, by reason (none when the server stops).
FAREWELLS = {
    EndReason.OVERFLOW: "too far behind: reconnect with Last-Event-ID to catch up",
    EndReason.REVOKED: "access ended: the API key was revoked or its team deleted",
}


def frame(event: LoggedEvent) -> bytes:
    """``id`` (the cursor to resume from), ``event`` (the type) and ``data`` (the envelope,
    byte for byte what a webhook delivery sends)."""
    data = "".join(f"data: {line}\n" for line in event.payload.split("\n"))
    return f"id: {event.seq}\nevent: {event.type}\n{data}\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


class EventStream:
    def __init__(
        self,
        hub: EventHub,
        subscriber: Subscriber,
        *,
        start: int,
        resume_after: int | None,
        replay_since: datetime,
        heartbeat: float,
    ) -> None:
        """``start``: the hub feeds this subscriber every event numbered above it;
        ``resume_after``: the client's ``Last-Event-ID`` (``None``: live events only)."""
        self._hub = hub
        self._log = hub.log
        self._subscriber = subscriber
        self._start = start
        self._resume_after = resume_after
        self._since = replay_since
        self._heartbeat = heartbeat
        self._sent = start if resume_after is None else resume_after

    @property
    def overflowed(self) -> bool:
        return self._subscriber.overflowed

    def close(self) -> None:
        self._hub.unsubscribe(self._subscriber)

    async def frames(self) -> AsyncIterator[bytes]:
        yield f"retry: {RECONNECT_MS}\n".encode() + comment("connected")
        async for missed in self._replay():
            yield frame(missed)
        queue = self._subscriber.queue
        while True:
            try:
                event: LoggedEvent | None = await asyncio.wait_for(queue.get(), self._heartbeat)
            except TimeoutError:
                yield comment("heartbeat")
                continue
            if event is None:
                reason = self._subscriber.reason
                if reason is not None and reason in FAREWELLS:
                    yield comment(FAREWELLS[reason])
                return
            if event.seq <= self._sent:
                continue
            self._sent = event.seq
            yield frame(event)

    async def _replay(self) -> AsyncIterator[LoggedEvent]:
        if self._resume_after is None or self._resume_after >= self._start:
            return
        after = self._resume_after
        while not self._subscriber.ended:
            rows = await self._log.team_between(
                self._subscriber.team_id,
                after=after,
                upto=self._start,
                since=self._since,
                limit=REPLAY_BATCH,
            )
            for row in rows:
                after = row.seq
                if self._subscriber.wants(row.type):
                    self._sent = row.seq
                    yield row
            if len(rows) < REPLAY_BATCH:
                self._sent = max(self._sent, self._start)
                return
