"""The database behind ``CSTAR_DATABASE_URL``: SQLite (embedded default) or PostgreSQL.

Every storage operation is one synchronous function over a SQLAlchemy ``Connection``, written
once for both databases, and run as one transaction:

* SQLite: in a dedicated thread, with the standard library driver. One thread hop per
  transaction (about 0.2 ms) instead of one per driver call (aiosqlite: 0.1 to 0.25 ms each),
  and the event loop never waits on disk. A single writer thread with a single connection whose
  transactions start ``BEGIN IMMEDIATE`` serialises writers in this process, and commits the
  writes that queued up meanwhile together (one fsync for many); other processes wait on
  ``busy_timeout``. Readers use their own threads and connections (WAL).
* PostgreSQL: with asyncpg, through ``AsyncConnection.run_sync``: asynchronous I/O, no threads.

Driver errors leave as :class:`~cstar.server.store.contract.StoreError`, without the statement's
parameters (payloads, names, idempotency keys), which would otherwise reach the server's log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from cstar.server.config import ConfigError, sqlite_path
from cstar.server.store.contract import StoreError
from cstar.server.store.group_commit import CLOSED_MESSAGE, GroupCommitWriter, store_error

T = TypeVar("T")
log = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 10_000
_READERS = 4


_store_error = store_error

#: What a driver, its pool or the network raises when the database fails or cannot be reached:
#: each leaves this module as a StoreError. asyncpg raises some of its own while connecting
#: (``CannotConnectNowError`` while a server starts up), and the socket layer ``OSError``
#: (connection refused), neither of which SQLAlchemy wraps.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


class Database:
    """Runs transaction functions; ``dialect`` is ``"sqlite"`` or ``"postgresql"``."""

    dialect: str

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction that may change data; commit unless it raises."""
        raise NotImplementedError

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a connection for reading."""
        raise NotImplementedError

    async def write_short(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Like :meth:`write`, for short transactions on a hot path (see SqliteDatabase).

        ``durable=False`` allows skipping the flush to disk at commit where the database
        supports it, for changes whose loss in a power cut is harmless (a lease).
        """
        return await self.write(work)

    async def dispose(self) -> None:
        raise NotImplementedError

    @property
    def write_engine(self) -> Engine:
        """The (synchronous-level) engine writes go through: for event listeners in tests."""
        raise NotImplementedError

    @property
    def dsn(self) -> str | None:
        """A libpq connection string for PostgreSQL (LISTEN), ``None`` for SQLite."""
        return None


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self._synchronous = synchronous
        create_private_file(path)
        url = f"sqlite:///{path}"
        options: dict[str, Any] = {
            "connect_args": {"check_same_thread": False},
            "hide_parameters": True,
        }
        self._writer_engine = create_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=60, **options
        )
        self._reader_engine = create_engine(
            url, pool_size=_READERS, max_overflow=0, pool_timeout=60, **options
        )
        _configure(self._writer_engine, begin="BEGIN IMMEDIATE", synchronous=synchronous)
        _configure(self._reader_engine, begin="BEGIN", synchronous=synchronous)
        self._writer = GroupCommitWriter(self._writer_engine)
        self._disposed = False
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="cstar-sqlite-reader")

    @property
    def write_engine(self) -> Engine:
        return self._writer_engine

    async def write(self, work: Callable[[Connection], T]) -> T:
        """On the writer thread; writes that queue up meanwhile share one commit
        (``group_commit.py``)."""
        return await self._writer.submit(work)

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    async def read(self, work: Callable[[Connection], T]) -> T:
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, _on_connection, self._reader_engine, work)

    def _check_open(self) -> None:
        if self._disposed:
            raise StoreError(CLOSED_MESSAGE)

    async def write_short(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Run a short transaction inline, on the event loop, on the same single writer.

        For the dispatcher's cycle only (a few bounded statements and one fsync per batch).
        Measured under load, handing the GIL to and from the writer thread for every statement
        cost more than the 1 to 3 ms this blocks the loop: 3.5k deliveries/s threaded against
        (see ``bench/README.md``) inline. A publish in progress on the writer thread makes it
        wait for that transaction to finish.

        ``durable=False`` commits without the fsync (``synchronous=NORMAL`` in WAL mode): the
        next durable commit syncs the write-ahead log, this transaction included, so only a
        power cut in between can lose it. The dispatcher uses it for claims alone (a lost lease
        just expires); anything that records an attempt is durable.
        """
        self._check_open()
        if durable or self._synchronous == "NORMAL":
            return _in_transaction(self._writer_engine, work)
        return _in_transaction(
            self._writer_engine, work, synchronous="NORMAL", restore=self._synchronous
        )

    async def dispose(self) -> None:
        """Close every connection and stop the writer; later calls fail fast. Idempotent."""
        if self._disposed:
            return
        self._disposed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.call_blocking, self._writer_engine.dispose)
        await loop.run_in_executor(None, self._writer.stop)
        await loop.run_in_executor(self._readers, self._reader_engine.dispose)
        self._readers.shutdown(wait=True)


def create_private_file(path: str) -> None:
    """Create the database file, empty and readable by its owner only (0600, like the master
    key file), unless it exists. SQLite gives the ``-wal`` and ``-shm`` files it creates the
    database file's permissions, so they are private too. An existing file keeps its mode (an
    operator may have chosen it); a file others can read is worth a warning."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            return
        if mode & 0o077:
            log.warning(
                "database file %s is readable by others (mode %o); chmod 600 it and its -wal and "
                "-shm files",
                path,
                mode,
            )
        return
    except OSError:  # a missing directory, no permission: SQLite says so when it connects
        return
    os.close(fd)


def _in_transaction(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    synchronous: str | None = None,
    restore: str | None = None,
) -> T:
    try:
        with engine.connect() as conn:
            if synchronous is None:
                with conn.begin():
                    return work(conn)
            # The safety level can only change outside a transaction: set it, run, restore.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute(f"PRAGMA synchronous={synchronous}")
            try:
                with conn.begin():
                    return work(conn)
            finally:
                raw.execute(f"PRAGMA synchronous={restore}")
    except DRIVER_ERRORS as exc:
        raise _store_error("write", exc) from exc


def _on_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    try:
        with engine.connect() as conn:
            return work(conn)
    except DRIVER_ERRORS as exc:
        raise _store_error("read", exc) from exc


def _configure(engine: Engine, *, begin: str, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it otherwise).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={synchronous}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    _ = (_on_connect, _on_begin)


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self._url = url
        # No pre-ping: it would add a round trip to every transaction. A connection that has
        # died fails its first statement; SQLAlchemy then discards it and the caller retries.
        self._engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            hide_parameters=True,
        )
        self._disposed = False

    @property
    def write_engine(self) -> Engine:
        return self._engine.sync_engine

    @property
    def dsn(self) -> str:
        from sqlalchemy.engine import make_url

        return (
            make_url(self._url).set(drivername="postgresql").render_as_string(hide_password=False)
        )

    def _check_open(self) -> None:
        if self._disposed:
            raise StoreError(CLOSED_MESSAGE)

    async def write(self, work: Callable[[Connection], T]) -> T:
        self._check_open()
        try:
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        except DRIVER_ERRORS as exc:
            raise _store_error("write", exc) from exc

    async def read(self, work: Callable[[Connection], T]) -> T:
        self._check_open()
        try:
            async with self._engine.connect() as conn:
                return await conn.run_sync(work)
        except DRIVER_ERRORS as exc:
            raise _store_error("read", exc) from exc

    async def write_short(self, work: Callable[[Connection], T], *, durable: bool = True) -> T:
        """``durable=False``: commit without waiting for the WAL flush (asynchronous commit,
        ``SET LOCAL synchronous_commit = off``); it still reaches the disk a moment later, and
        every later synchronous commit waits for it."""
        if durable:
            return await self.write(work)

        def relaxed(conn: Connection) -> T:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            return work(conn)

        return await self.write(relaxed)

    async def fetch_direct(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """Run one statement (a function call) on the driver's own connection, outside any
        transaction block, and return its rows (``asyncpg.Record``, read by column name).

        For the dispatcher's cycle, run hundreds of times a second: it skips SQLAlchemy's
        greenlet bridge and result processing, which cost more than the call itself. A
        connection that fails is invalidated, so the pool never hands it out again."""
        self._check_open()
        try:
            async with self._engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                try:
                    rows: list[Any] = await driver.fetch(statement, *params)
                except BaseException:
                    await conn.invalidate()
                    raise
                return rows
        except DRIVER_ERRORS as exc:
            raise _store_error("write", exc) from exc

    async def dispose(self) -> None:
        """Close the pool; later calls fail fast. Idempotent."""
        self._disposed = True
        await self._engine.dispose()


def open_database(
    database_url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10
) -> Database:
    """The database an operator's URL names (``sqlite:///...`` or ``postgresql://...``)."""
    url = database_url.strip()
    path = sqlite_path(url)
    if path is not None:
        if path == ":memory:":
            raise ConfigError(
                "CSTAR_DATABASE_URL: an in-memory SQLite database is not supported "
                "(the API and the dispatcher need to share it); use a file such as sqlite:///cstar.db"
            )
        return SqliteDatabase(path, synchronous=sqlite_synchronous)
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return PostgresDatabase(
                "postgresql+asyncpg://" + url[len(prefix) :], pool_size=pool_size
            )
    raise ConfigError(
        "CSTAR_DATABASE_URL must start with sqlite:/// or postgresql:// "
        f"(got {url.split('://', 1)[0]!r}://...)"
    )
