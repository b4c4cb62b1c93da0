"""Database engines for ``CSTAR_DATABASE_URL``: SQLite (embedded default) or PostgreSQL.

SQLite allows one writer at a time. Rather than let concurrent writers collide on the file lock,
the SQLite backend gets two engines: a write engine with a single connection whose transactions
start with ``BEGIN IMMEDIATE`` (so in-process writers queue on the pool, and another process's
writers wait on ``busy_timeout``), and a read engine with a few connections for WAL readers.
PostgreSQL gets one pooled engine for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from cstar.server.config import ConfigError, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines of one database: ``write`` for transactions that change data, ``read`` else."""

    write: AsyncEngine
    read: AsyncEngine
    dialect: str

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def async_url(database_url: str) -> str:
    """Map the URL an operator types to the async driver SQLAlchemy should use."""
    url = database_url.strip()
    if url.startswith(("sqlite:///", "sqlite+aiosqlite:///")):
        path = sqlite_path(url)
        if path == ":memory:":
            raise ConfigError(
                "CSTAR_DATABASE_URL: an in-memory SQLite database is not supported "
                "(the API and the dispatcher need to share it); use a file such as sqlite:///cstar.db"
            )
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ConfigError(
        "CSTAR_DATABASE_URL must start with sqlite:/// or postgresql:// "
        f"(got {url.split('://', 1)[0]!r}://...)"
    )


def create_engines(
    database_url: str, *, pool_size: int = 10, sqlite_synchronous: str = "FULL"
) -> Engines:
    url = async_url(database_url)
    if url.startswith("sqlite"):
        write = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        read = create_async_engine(url, pool_size=4, max_overflow=4, pool_timeout=60)
        _configure_sqlite(write, begin="BEGIN IMMEDIATE", synchronous=sqlite_synchronous)
        _configure_sqlite(read, begin="BEGIN", synchronous=sqlite_synchronous)
        return Engines(write=write, read=read, dialect="sqlite")
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, pool_pre_ping=True
    )
    return Engines(write=engine, read=engine, dialect="postgresql")


def _configure_sqlite(engine: AsyncEngine, *, begin: str, synchronous: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    _ = (_on_connect, _on_begin)
