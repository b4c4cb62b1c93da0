"""SQLite's writer commits the writes that queue up together, and keeps them apart: a failing
write is rolled back alone, and nobody hears back before the shared commit."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.store import migrate
from cstar.server.store.contract import StoreError
from cstar.server.store.database import SqliteDatabase, open_database


@pytest.fixture
async def sqlite(tmp_path: Path) -> SqliteDatabase:
    database = open_database(f"sqlite:///{tmp_path / 'group.db'}")
    assert isinstance(database, SqliteDatabase)
    await migrate.upgrade(database)
    await database.write(lambda c: c.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)"))
    return database


def insert(key: str) -> object:
    def work(conn: Connection) -> str:
        conn.exec_driver_sql("INSERT INTO t (k) VALUES (?)", (key,))
        return key

    return work


async def keys(database: SqliteDatabase) -> set[str]:
    rows = await database.read(lambda c: c.exec_driver_sql("SELECT k FROM t").all())
    return {r[0] for r in rows}


async def test_queued_writes_share_commits_and_a_failure_stays_its_own(
    sqlite: SqliteDatabase,
) -> None:
    try:
        writer = sqlite.writer
        gate = threading.Event()
        # Hold the writer so the next writes queue up behind it.
        blocker = asyncio.create_task(sqlite.write(lambda c: gate.wait(5)))
        await asyncio.sleep(0.05)
        commits_before = writer.commits
        good = [asyncio.create_task(sqlite.write(insert(f"k{n}"))) for n in range(20)]  # type: ignore[arg-type]
        duplicate = asyncio.create_task(sqlite.write(insert("k3")))  # type: ignore[arg-type]
        raising = asyncio.create_task(sqlite.write(lambda c: 1 / 0))
        await asyncio.sleep(0.05)
        gate.set()
        await blocker
        assert [await t for t in good] == [f"k{n}" for n in range(20)]
        with pytest.raises(StoreError) as caught:
            await duplicate
        assert isinstance(caught.value.__cause__, sa.exc.IntegrityError)
        with pytest.raises(ZeroDivisionError):
            await raising
        # 22 writes, far fewer commits: they queued while the writer was busy.
        assert writer.commits - commits_before <= 3
        assert await keys(sqlite) == {f"k{n}" for n in range(20)}
    finally:
        await sqlite.dispose()


async def test_a_lone_write_still_fails_whole(sqlite: SqliteDatabase) -> None:
    try:

        def half(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO t (k) VALUES ('a')")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await sqlite.write(half)
        assert await keys(sqlite) == set()
        assert await sqlite.write(insert("b")) == "b"  # type: ignore[arg-type]
    finally:
        await sqlite.dispose()
