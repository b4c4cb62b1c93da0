"""SQLite's writer thread, committing in groups.

SQLite has one writer, and on ``synchronous=FULL`` every commit waits for an fsync: one
transaction per publish caps publishing at the disk's fsync rate. Here the writer thread takes
whatever jobs are waiting when it becomes free (up to ``max_batch``) and runs them in one
transaction, each inside its own SAVEPOINT: a job that raises is rolled back alone and gets
its exception, the others commit together, and every caller hears back only after the shared
commit reached the disk. A job alone in the queue runs in its own transaction, as before.

Once stopped, the writer refuses new work at once with a :class:`StoreError` (never a caller left
waiting on a thread that is gone), and stopping twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from cstar.server.store.contract import StoreError

T = TypeVar("T")


def store_error(action: str, exc: Exception) -> StoreError:
    return StoreError(f"database {action} failed: {type(exc).__name__}: {exc}")


@dataclass(slots=True)
class _Job:
    work: Callable[[Connection], Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    #: For ``call``: a plain function run on the writer thread, outside any transaction.
    plain: Callable[[], Any] | None = None
    done: threading.Event | None = None
    #: What ``plain`` raised, handed back to the thread that waits for it.
    error: BaseException | None = None


CLOSED_MESSAGE = "the database is closed"


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 32, name: str = "cstar-sqlite-writer"):
        self._engine = engine
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        #: Guards ``_closed`` against a job being queued behind the stop marker.
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        #: Transactions committed, and jobs they carried (for tests and benchmarks).
        self.commits = 0
        self.jobs = 0

    async def submit(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Job(work, loop, future))
        return await future

    def call_blocking(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the writer thread between transactions, and wait for it."""
        done = threading.Event()
        job = _Job(lambda _c: None, None, None, plain=fn, done=done)
        self._put(job)
        done.wait()
        if job.error is not None:
            raise job.error

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._closed or not self._thread.is_alive():
                raise StoreError(CLOSED_MESSAGE)
            self._jobs.put(job)

    def stop(self) -> None:
        """Finish the jobs already queued, then end the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            if first.plain is not None:
                self._run_plain(first)
                continue
            batch = [first]
            stop = False
            held: _Job | None = None
            while len(batch) < self._max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if job.plain is not None:
                    held = job
                    break
                batch.append(job)
            self._commit(batch)
            if held is not None:
                self._run_plain(held)
            if stop:
                return

    @staticmethod
    def _run_plain(job: _Job) -> None:
        try:
            assert job.plain is not None
            job.plain()
        except Exception as exc:  # the caller gets it; the writer thread lives on
            job.error = exc
        finally:
            assert job.done is not None
            job.done.set()

    def _commit(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._engine.connect() as conn, conn.begin():
                if len(batch) == 1:
                    outcomes.append((True, batch[0].work(conn)))
                else:
                    for job in batch:
                        try:
                            with conn.begin_nested():
                                outcomes.append((True, job.work(conn)))
                        except Exception as exc:  # this job only: its savepoint is rolled back
                            outcomes.append((False, _as_store_error(exc)))
        except Exception as exc:
            # The transaction itself failed (or the single job raised): nothing committed.
            error = _as_store_error(exc)
            outcomes = [(False, error)] * len(batch)
        else:
            self.commits += 1
            self.jobs += len(batch)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            _resolve(job, ok, value)


def _as_store_error(exc: Exception) -> Exception:
    """A database error as the contract's StoreError: SQLAlchemy's, and the driver's own from
    the statements run on the raw connection (``store/sqlite/backend.py``), the same as on
    PostgreSQL."""
    if not isinstance(exc, SQLAlchemyError | sqlite3.Error):
        return exc
    error = store_error("write", exc)
    error.__cause__ = exc
    return error


def _resolve(job: _Job, ok: bool, value: Any) -> None:
    loop, future = job.loop, job.future
    if loop is None or future is None:
        return

    def settle() -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(settle)
