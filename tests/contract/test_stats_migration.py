"""Migration 0010 (delivery statistics): its ``cstar_cycle`` is 0008's with the statistics
added and nothing else changed, and it goes down to 0009 (0008's function, restated in 0010)
and up again on both databases."""

from __future__ import annotations

import difflib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command

from cstar.server.domain.stats import LATENCY_BOUNDS_MS
from cstar.server.store import migrate
from cstar.server.store.database import open_database
from cstar.server.store.postgres import functions_sql
from tests.migrations import body, functions, migration, schema_drift


def test_0010s_cycle_is_0008s_with_the_statistics_added_and_nothing_else_changed() -> None:
    before = migration("0008").CYCLE.strip().splitlines()
    after = migration("0010").CYCLE.strip().splitlines()
    changes = [
        (tag, j1, after[j1:j2])
        for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(
            a=before, b=after, autojunk=False
        ).get_opcodes()
        if tag != "equal"
    ]
    assert [tag for tag, _, _ in changes] == ["insert", "insert"]  # none removed or edited
    (_, _, parameters), (_, at, statement) = changes
    assert all(line.strip().startswith("s_") for line in parameters)
    names = {p.split()[0] for line in parameters for p in line.strip(" ,").split(", ")}
    assert names == {"s_webhook", "s_hour", "s_succeeded", "s_retrying", "s_failed"} | {
        f"s_le_{bound}ms" for bound in LATENCY_BOUNDS_MS
    } | {"s_over_10000ms"}
    text = "\n".join(statement)
    assert text.count(";") == 1
    assert "INSERT INTO delivery_stats" in text
    assert "ON CONFLICT ON CONSTRAINT pk_delivery_stats DO UPDATE" in text
    # Right after the attempts are inserted, before the deliveries are updated.
    assert after[at - 1].strip() == "AS u(d, w, n, s, ms, code, ok, err, url, h, body);"
    following = next(line for line in after[at + len(statement) :] if line.strip())
    assert following.strip().startswith("UPDATE deliveries")


def _to(revision: str, *, down: bool = False) -> Callable[[sa.Connection], None]:
    def work(conn: sa.Connection) -> None:
        config = migrate.alembic_config(conn)
        (command.downgrade if down else command.upgrade)(config, revision)

    return work


def _state(conn: sa.Connection) -> tuple[bool, str | None]:
    """Whether ``delivery_stats`` exists, and ``cstar_cycle``'s source on PostgreSQL."""
    exists = sa.inspect(conn).has_table("delivery_stats")
    if conn.dialect.name != "postgresql":
        return exists, None
    source = conn.exec_driver_sql(
        "SELECT prosrc FROM pg_proc WHERE proname = 'cstar_cycle'"
    ).scalar_one()
    return exists, str(source)


async def _down_and_up(url: str) -> None:
    database = open_database(url)
    try:
        await database.write(_to("head"))
        pg = database.dialect == "postgresql"
        assert await database.read(_state) == (
            True,
            body(functions(functions_sql())["cstar_cycle"]) if pg else None,
        )
        await database.write(_to("0009", down=True))
        assert await migrate.current_revision(database) == "0009"
        assert await database.read(_state) == (
            False,
            body(migration("0008").CYCLE) if pg else None,
        )
        assert migration("0010").PREVIOUS_CYCLE == migration("0008").CYCLE
        await migrate.upgrade(database)
        assert await migrate.current_revision(database) == migrate.head_revision()
        assert (await database.read(_state))[0]
        assert await schema_drift(database) == []
    finally:
        await database.dispose()


@pytest.fixture
async def fresh_pg_url(pg_database: str) -> AsyncIterator[str]:
    """A brand-new, empty PostgreSQL database of its own, dropped afterwards."""
    base, _, _ = pg_database.rpartition("/")
    name = f"cstar_stats_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_database.replace("postgresql://", "postgres://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{base}/{name}"
    finally:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_0010_goes_down_and_up_again_on_sqlite(tmp_path: Path) -> None:
    await _down_and_up(f"sqlite:///{tmp_path / 'stats.db'}")


@pytest.mark.postgres
async def test_0010_goes_down_to_0008s_cycle_and_up_again_on_postgres(fresh_pg_url: str) -> None:
    await _down_and_up(fresh_pg_url)
