"""Recording API requests without making any request wait for the database.

A request hands its entry to :meth:`RequestLogRecorder.record`, which only appends it to a
bounded buffer in memory. A background task writes the buffer in batches: ``interval`` after the
first entry arrives, or at once when ``batch_size`` entries are waiting. When the buffer is full
(the database cannot keep up, or is away) new entries are dropped and counted, and a warning says
so at most once per interval. :meth:`aclose` writes what is left.

The price: a process that dies (crash, SIGKILL, power cut) loses what it had not written yet,
at most about ``interval`` of requests. A graceful stop loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from cstar.server.domain.request_logs import RequestLogEntry
from cstar.server.outage import Outage
from cstar.server.store.contract import RequestLogStore, StoreError

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.25
BATCH_SIZE = 500
CAPACITY = 10_000


class RequestLogRecorder:
    def __init__(
        self,
        store: RequestLogStore,
        *,
        interval: float = FLUSH_INTERVAL,
        batch_size: int = BATCH_SIZE,
        capacity: int = CAPACITY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = interval
        self._batch_size = batch_size
        self._capacity = capacity
        self._monotonic = monotonic
        self._buffer: deque[RequestLogEntry] = deque()
        #: Something is waiting to be written.
        self._pending = asyncio.Event()
        #: A whole batch is waiting (or we are closing): write now.
        self._full = asyncio.Event()
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_warning: float | None = None
        self._unreported = 0
        #: Entries dropped since start: buffer full, written after close, or a failed write.
        self.dropped = 0
        #: Entries written since start.
        self.written = 0
        #: While the database is away: one log line when it goes, one when it is back.
        self._outage = Outage(log, "the database (request log)")
        self._lost_in_outage = 0

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def record(self, entry: RequestLogEntry) -> None:
        """Keep ``entry`` for the next batch; never waits, never raises."""
        if self._closed:
            self.dropped += 1
            return
        if len(self._buffer) >= self._capacity:
            self.dropped += 1
            self._unreported += 1
        else:
            self._buffer.append(entry)
        self._pending.set()
        if len(self._buffer) >= self._batch_size:
            self._full.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="cstar-request-log"
            )

    async def flush(self) -> None:
        """Write everything buffered now, in batches (one at a time, in order)."""
        async with self._writing:
            while self._buffer:
                count = min(len(self._buffer), self._batch_size)
                batch = [self._buffer.popleft() for _ in range(count)]
                try:
                    await self._store.insert(batch)
                except StoreError as exc:
                    self.dropped += len(batch)
                    self._lost_in_outage += len(batch)
                    self._outage.failed(exc)
                    return
                except Exception:
                    self.dropped += len(batch)
                    log.exception("could not write %d request log entries", len(batch))
                    return
                self.written += len(batch)
                if self._outage.lost:
                    self._outage.recovered()
                    log.warning(
                        "dropped %d request log entries while the database was unavailable",
                        self._lost_in_outage,
                    )
                    self._lost_in_outage = 0

    async def aclose(self) -> None:
        """Stop the background task and write what is left; later entries are dropped."""
        if self._closed:
            return
        self._closed = True
        self._pending.set()
        self._full.set()
        if self._task is not None:
            await self._task
        await self.flush()
        self._report_drops(final=True)

    async def _run(self) -> None:
        while not self._closed:
            await self._pending.wait()
            if not self._full.is_set():
                # Let a batch gather: one transaction per interval, not one per request.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._interval)
            self._pending.clear()
            self._full.clear()
            await self.flush()
            self._report_drops()

    def _report_drops(self, *, final: bool = False) -> None:
        if not self._unreported:
            return
        now = self._monotonic()
        recent = self._last_warning is not None and now - self._last_warning < self._interval
        if recent and not final:
            return
        self._last_warning = now
        log.warning(
            "request log buffer full (%d entries): dropped %d entries (%d since start)",
            self._capacity,
            self._unreported,
            self.dropped,
        )
        self._unreported = 0
