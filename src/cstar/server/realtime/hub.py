"""Every published event, in ``seq`` order, to every realtime stream of this process.

One tail per process reads new events from the database (woken at once by a publish in this
process, by ``NOTIFY`` from other processes on PostgreSQL, and by polling as the fallback) and
hands each to the subscribers of its team whose patterns match. Reading the database rather than
passing events around in memory is what makes every API process see every event, and what lets
a reconnecting client replay what it missed from the same numbers.

Numbers are handed out when a row is inserted, and on PostgreSQL transactions may commit out of
order: seeing 12 while 11 is still invisible means 11 may yet appear. The tail stops at such a
gap and waits up to ``gap_timeout`` for it to fill before passing it (a rolled-back publish
leaves a hole that never fills). SQLite writes one transaction at a time, so it has no gaps.

The hub also bounds and guards what it feeds: a key and a team may hold only so many streams at
once, and a stream ends when its key is revoked or its team deleted. A revocation in this process
ends its streams at once (:meth:`EventHub.end_key`); one made elsewhere (another API replica, the
database itself) is found by one query every ``access_check`` seconds for all open streams' keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field

from cstar import events as catalog
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.errors import RateLimited
from cstar.server.outage import Outage
from cstar.server.store.event_log import LoggedEvent, SqlEventLog

log = logging.getLogger(__name__)

#: Rows read per query while catching up.
TAIL_BATCH = 500
#: ``Retry-After`` (seconds) when a key or team already holds as many streams as it may.
STREAM_LIMIT_RETRY_AFTER = 5

#: Of some key ids, those still usable (not revoked, team not deleted).
UsableKeys = Callable[[Collection[str]], Awaitable[set[str]]]


class EndReason(enum.Enum):
    #: The server is stopping.
    STOPPING = "stopping"
    #: The client fell too far behind; it should reconnect to replay from the database.
    OVERFLOW = "overflow"
    #: The stream's key was revoked or its team deleted.
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class StreamLimits:
    #: Streams open at once per key and per team.
    per_key: int
    per_team: int
    #: Seconds between checks that open streams' keys and teams still exist.
    access_check: float


@dataclass(eq=False)
class Subscriber:
    """One open stream: its team, the key it was opened with, its patterns (``None``:
    everything) and its queue. ``None`` in the queue ends the stream; ``reason`` says why."""

    team_id: str
    key_id: str
    patterns: tuple[str, ...] | None
    queue: asyncio.Queue[LoggedEvent | None] = field(default_factory=asyncio.Queue)
    reason: EndReason | None = None

    @property
    def ended(self) -> bool:
        return self.reason is not None

    @property
    def overflowed(self) -> bool:
        return self.reason is EndReason.OVERFLOW

    def wants(self, event_type: str) -> bool:
        if self.patterns is None:
            return True
        return any(catalog.pattern_matches(p, event_type) for p in self.patterns)

    def end(self, reason: EndReason) -> None:
        if self.reason is None:
            self.reason = reason
            self.queue.put_nowait(None)


class EventHub:
    def __init__(
        self,
        log_: SqlEventLog,
        waker: Waker,
        *,
        usable_keys: UsableKeys,
        limits: StreamLimits,
        poll_interval: float,
        gap_timeout: float = 2.0,
        queue_limit: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log_
        self._waker = waker
        self._usable_keys = usable_keys
        self._limits = limits
        self._poll = poll_interval
        self._gap_timeout = gap_timeout
        self._queue_limit = queue_limit
        self._monotonic = monotonic
        self._teams: dict[str, set[Subscriber]] = {}
        self._wake = asyncio.Event()
        self._start_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._access_task: asyncio.Task[None] | None = None
        self._closed = False
        #: Everything numbered up to here has been handed to the subscribers of that moment.
        self._high_water = 0
        self._gap: tuple[int, float] | None = None

    @property
    def log(self) -> SqlEventLog:
        return self._log

    @property
    def high_water(self) -> int:
        return self._high_water

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._teams.values())

    async def subscribe(
        self, team_id: str, key_id: str, patterns: Sequence[str] | None
    ) -> tuple[Subscriber, int]:
        """Register a stream opened with ``key_id``. Returns it and the number from which the
        tail will feed it: every event after that number reaches its queue; the caller replays
        anything before. Raises :class:`RateLimited` when the key or the team already holds as
        many streams as it may."""
        await self._ensure_started()
        subscriber = Subscriber(team_id, key_id, tuple(patterns) if patterns else None)
        if self._closed:
            subscriber.end(EndReason.STOPPING)
            return subscriber, self._high_water
        self._admit(self._teams.get(team_id, set()), key_id)
        self._teams.setdefault(team_id, set()).add(subscriber)
        return subscriber, self._high_water

    def _admit(self, team: set[Subscriber], key_id: str) -> None:
        limits = self._limits
        if sum(1 for s in team if s.key_id == key_id) >= limits.per_key:
            raise RateLimited(
                STREAM_LIMIT_RETRY_AFTER,
                f"This API key already has {limits.per_key} open streams, the most it may "
                "hold at once; close one before opening another",
            )
        if len(team) >= limits.per_team:
            raise RateLimited(
                STREAM_LIMIT_RETRY_AFTER,
                f"This team already has {limits.per_team} open streams, the most it may "
                "hold at once; close one before opening another",
            )

    def unsubscribe(self, subscriber: Subscriber) -> None:
        team = self._teams.get(subscriber.team_id)
        if team is not None:
            team.discard(subscriber)
            if not team:
                del self._teams[subscriber.team_id]

    def poke(self) -> None:
        """An event was just published in this process."""
        self._wake.set()

    def end_streams(self) -> None:
        """Close every open stream now (the server is stopping); new ones end at once."""
        self._closed = True
        for team in list(self._teams.values()):
            for subscriber in team:
                subscriber.end(EndReason.STOPPING)
        self._teams.clear()

    def end_key(self, key_id: str) -> None:
        """Close every open stream of a key now: it has just been revoked."""
        self._end_where(lambda s: s.key_id == key_id)

    def open_key_ids(self) -> set[str]:
        return {s.key_id for team in self._teams.values() for s in team}

    def _end_where(self, ended: Callable[[Subscriber], bool]) -> None:
        for team_id, team in list(self._teams.items()):
            for subscriber in [s for s in team if ended(s)]:
                subscriber.end(EndReason.REVOKED)
                team.discard(subscriber)
            if not team:
                del self._teams[team_id]

    async def check_access(self) -> None:
        """End the streams whose key was revoked or whose team was deleted, by any process."""
        open_keys = self.open_key_ids()
        if not open_keys:
            return
        gone = open_keys - await self._usable_keys(open_keys)
        if gone:
            self._end_where(lambda s: s.key_id in gone)

    async def close(self) -> None:
        self.end_streams()
        for task in (self._task, self._access_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._access_task = None
        self._waker.unsubscribe(self._wake)

    async def _ensure_started(self) -> None:
        if self._task is not None or self._closed:
            return
        async with self._start_lock:
            if self._task is not None or self._closed:
                return
            self._high_water = await self._log.last_seq()
            self._waker.subscribe(self._wake)
            await self._waker.start()
            self._task = asyncio.create_task(self._tail(), name="cstar-stream-tail")
            self._access_task = asyncio.create_task(
                self._watch_access(), name="cstar-stream-access"
            )

    async def _tail(self) -> None:
        outage = Outage(log, "the database (realtime streams)", first=min(self._poll, 0.5))
        while True:
            timeout = self._poll if self._gap is None else min(self._poll, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(outage.failed(exc))
            else:
                outage.recovered()

    async def _watch_access(self) -> None:
        # Streams carry on while the database is unreachable: they receive nothing meanwhile.
        outage = Outage(
            log, "the database (realtime stream access)", first=self._limits.access_check
        )
        while True:
            await asyncio.sleep(self._limits.access_check)
            try:
                await self.check_access()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage.failed(exc)
            else:
                outage.recovered()

    async def catch_up(self) -> None:
        """Hand every event committed since the last call to its subscribers, in order."""
        while True:
            rows = await self._log.after(self._high_water, limit=TAIL_BATCH)
            for row in rows:
                if row.seq != self._high_water + 1 and not self._gap_expired(self._high_water + 1):
                    return
                self._gap = None
                self._high_water = row.seq
                self._hand_out(row)
            if len(rows) < TAIL_BATCH:
                return

    def _gap_expired(self, missing: int) -> bool:
        now = self._monotonic()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        expired = now - self._gap[1] >= self._gap_timeout
        if expired:
            log.debug("event number %d never appeared; streams go on without it", missing)
        return expired

    def _hand_out(self, event: LoggedEvent) -> None:
        team = self._teams.get(event.team_id)
        if not team:
            return
        for subscriber in list(team):
            if not subscriber.wants(event.type):
                continue
            if subscriber.queue.qsize() >= self._queue_limit:
                subscriber.end(EndReason.OVERFLOW)
                team.discard(subscriber)
                continue
            subscriber.queue.put_nowait(event)
        if not team:
            self._teams.pop(event.team_id, None)
