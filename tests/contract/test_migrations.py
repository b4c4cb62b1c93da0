"""The migrations build exactly the schema the store is written against, on both backends."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.ids import new_team_id
from cstar.server.domain.models import Team
from cstar.server.store import migrate
from cstar.server.store.database import Database, open_database
from tests.migrations import schema_drift

TABLES = {"meta", "teams", "api_keys", "webhooks", "webhook_subscriptions", "request_logs"}
#: Seconds: an upgrade of an empty database takes well under one.
UPGRADE_TIMEOUT = 30


async def table_names(database: Database) -> set[str]:
    names: list[str] = await database.read(lambda c: sa.inspect(c).get_table_names())
    return set(names)


@contextmanager
def recorded_statements(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(database.write_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(database.write_engine, "before_cursor_execute", record)


async def test_migrated_schema_matches_the_metadata(container: Container) -> None:
    diffs = await schema_drift(container.database)
    assert diffs == []
    assert TABLES | {"alembic_version"} <= await table_names(container.database)


async def test_database_is_at_head_and_upgrading_again_changes_nothing(
    container: Container,
) -> None:
    head = migrate.head_revision()
    assert head is not None
    assert await migrate.current_revision(container.database) == head

    team = Team(id=new_team_id(), name="Survivor", created_at=container.clock())
    await container.store.create_team(team, [])
    with recorded_statements(container.database) as statements:
        await migrate.upgrade(container.database)

    assert any("alembic_version" in s for s in statements)  # it did look, and found head
    changes = [
        s
        for s in statements
        if s.lstrip().split(" ", 1)[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE"}
    ]
    assert changes == []
    assert await migrate.current_revision(container.database) == head
    assert await container.store.get_team(team.id) == team
    assert await schema_drift(container.database) == []


@pytest.fixture
async def fresh_pg_url(pg_database: str) -> AsyncIterator[str]:
    """A brand-new, empty PostgreSQL database of its own, dropped afterwards."""
    base, _, _ = pg_database.rpartition("/")
    name = f"cstar_migrate_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_database.replace("postgresql://", "postgres://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{base}/{name}"
    finally:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def assert_at_head(url: str) -> None:
    database = open_database(url)
    try:
        head = migrate.head_revision()
        assert await migrate.current_revision(database) == head
        versions = await database.read(
            lambda conn: conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        )
        assert [tuple(v) for v in versions] == [(head,)]
        assert await table_names(database) >= TABLES
        assert await schema_drift(database) == []
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_concurrent_upgrades_of_a_fresh_postgres_database(fresh_pg_url: str) -> None:
    first, second = open_database(fresh_pg_url), open_database(fresh_pg_url)
    try:
        assert await table_names(first) == set()
        # Without the advisory lock the two runs interleave (and, sharing alembic's module-level
        # proxies in one process, deadlock): the timeout turns that into a failure.
        async with asyncio.timeout(UPGRADE_TIMEOUT):
            await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))
    finally:
        await first.dispose()
        await second.dispose()
    await assert_at_head(fresh_pg_url)


_CHILD = """
import asyncio, sys
from cstar.server.store import migrate
from cstar.server.store.database import open_database

async def main() -> None:
    database = open_database(sys.argv[1])
    try:
        await database.read(lambda conn: None)  # connect before the start signal
        print("ready", flush=True)
        sys.stdin.readline()
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    print("done", flush=True)

asyncio.run(main())
"""


@pytest.mark.postgres
async def test_concurrent_upgrades_from_separate_processes(fresh_pg_url: str) -> None:
    """Replicas rolling out at once: several processes upgrade the same empty database."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            fresh_pg_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    try:
        async with asyncio.timeout(UPGRADE_TIMEOUT):
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:  # start them all at once
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            results = [await child.communicate() for child in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert out == b"done\n"
    await assert_at_head(fresh_pg_url)


async def test_upgrading_a_fresh_sqlite_file_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    assert not path.exists()
    database = open_database(f"sqlite:///{path}")
    try:
        await migrate.upgrade(database)
        assert path.is_file()
        assert TABLES | {"alembic_version"} <= await table_names(database)
        assert await migrate.current_revision(database) == migrate.head_revision()
        assert await schema_drift(database) == []
    finally:
        await database.dispose()


def _upgrade_to(revision: str) -> Any:
    from alembic import command

    def work(conn: sa.Connection) -> None:
        command.upgrade(migrate.alembic_config(conn), revision)

    return work


async def test_0005_numbers_existing_sqlite_events_in_insertion_order(tmp_path: Path) -> None:
    await _numbers_existing_events(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
async def test_0005_numbers_existing_postgres_events_in_insertion_order(
    fresh_pg_url: str,
) -> None:
    await _numbers_existing_events(fresh_pg_url)


async def _numbers_existing_events(url: str) -> None:
    database = open_database(url)
    try:
        await database.write(_upgrade_to("0004"))

        at = datetime(2026, 1, 1, tzinfo=UTC)
        if url.startswith("sqlite"):
            at = at.replace(tzinfo=None)

        def old_rows(conn: sa.Connection) -> None:
            conn.execute(
                sa.text("INSERT INTO teams (id, name, created_at) VALUES ('t', 'T', :at)"),
                {"at": at},
            )
            for n in range(3):
                conn.execute(
                    sa.text(
                        "INSERT INTO events (id, team_id, type, payload, is_test, created_at) "
                        "VALUES (:id, 't', 'customer.created', '{}', false, :at)"
                    ),
                    {"id": f"evt_{n}", "at": at},
                )

        await database.write(old_rows)
        await migrate.upgrade(database)
        assert await schema_drift(database) == []
        rows = await database.read(
            lambda conn: conn.execute(sa.text("SELECT id, seq FROM events ORDER BY seq")).all()
        )
        assert [r[0] for r in rows] == ["evt_0", "evt_1", "evt_2"]
        assert [r[1] for r in rows] == sorted({r[1] for r in rows})
    finally:
        await database.dispose()
