"""PostgreSQL's functions: ``store/postgres/functions.sql`` writes them out as the newest
migration leaves them, every migration restates in full what it creates and what its downgrade
restores (reading no other file), and a migrated database holds exactly those texts."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command

from cstar.server.store import channels, migrate
from cstar.server.store.database import open_database
from cstar.server.store.postgres import functions_sql
from tests.migrations import body, created, functions, functions_after, migration, revisions
from tests.postgres import fresh_database

SRC = Path(migrate.__file__).resolve().parents[2]  # src/cstar
VERSIONS = Path(migrate.__file__).with_name("migrations") / "versions"

#: ``cstar_cycle``'s source (sha256 of ``prosrc``) after each migration that changes it, as the
#: migrations created it before each was made self-contained (0007 then patched 0004's text).
#: Migrations are history: these never change.
CYCLE_SOURCE_SHA256 = {
    "0004": "451b72857e673572565186ff0f3878441c3141bba5c4d70ed5ace43e5de17797",
    "0007": "f90491e6cb4788712cd39f203a967da639ad5dbc030f1099c6c936ea9357ad26",
    "0008": "d3ce611efdc937283ed0edf766683bef50eba85cf8203f77145cc60f239bd04d",
    "0010": "3f1abaac7e017f03c2b9363abbfeb33d64340f5692f3a7ab42a240582a97b166",
    "0014": "2b13c6d710199bd1a60bd6d196fa5deabe206ce2f8b7cd68613c26a39f356207",
}

#: What would make a migration depend on a file other than itself.
_FORBIDDEN_MODULES = ("importlib", "imp", "runpy", "pkgutil", "pathlib", "os", "io")
_FORBIDDEN_CALLS = {"open", "exec", "eval", "compile", "__import__"}


def test_functions_sql_is_the_newest_migrations_text() -> None:
    current = functions(functions_sql())
    assert current, "functions.sql creates no function"
    assert current == functions_after(revisions()[-1])
    assert current["cstar_cycle"] == migration("0014").CYCLE.strip()


def test_functions_sql_ships_in_the_package() -> None:
    path = SRC / "server" / "store" / "postgres" / "functions.sql"
    assert path.read_text(encoding="utf-8") == functions_sql()


def test_cycle_sources_are_those_the_migrations_always_created() -> None:
    for revision, digest in CYCLE_SOURCE_SHA256.items():
        source = body(created(revision)["cstar_cycle"])
        assert hashlib.sha256(source.encode()).hexdigest() == digest, revision
    assert [r for r in revisions() if "cstar_cycle" in created(r)] == list(CYCLE_SOURCE_SHA256)


def test_each_downgrade_restates_the_function_it_restores() -> None:
    for previous, revision in zip(revisions(), revisions()[1:], strict=False):
        if "cstar_cycle" not in created(revision) or "cstar_cycle" not in functions_after(previous):
            continue
        restored = functions(migration(revision).PREVIOUS_CYCLE)["cstar_cycle"]
        assert body(restored) == body(functions_after(previous)["cstar_cycle"]), revision


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.name[:4])
def test_a_migration_reads_no_other_file(path: Path) -> None:
    """No importlib, no import of another migration or of ``functions.sql``: a later change
    elsewhere must never change what an old migration does."""
    source = path.read_text(encoding="utf-8")
    assert "functions.sql" not in source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in _FORBIDDEN_CALLS, f"{path.name}: {node.func.id}()"
            continue
        for name in names:
            assert name.split(".")[0] not in _FORBIDDEN_MODULES, f"{path.name}: {name}"
            assert not name.startswith(
                ("cstar.server.store.migrations", "cstar.server.store.postgres")
            ), f"{path.name}: {name}"


def test_notify_channels_are_named_only_in_channels_py() -> None:
    names = {channels.DELIVERIES_CHANNEL, channels.EVENTS_CHANNEL}
    assert len(names) == 2
    for path in [*SRC.rglob("*.py"), *SRC.rglob("*.sql")]:
        if path.name == "channels.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not [n for n in names if n in text], path
    # PostgreSQL's backend's statements, built from the constants.
    from cstar.server.store.postgres import backend

    assert backend.NOTIFY_BOTH == (
        "SELECT pg_notify('cstar_events', ''), pg_notify('cstar_deliveries', '')"
    )
    assert backend.NOTIFY_EVENTS == "SELECT pg_notify('cstar_events', '')"
    assert backend.NOTIFY_DELIVERIES == "SELECT pg_notify('cstar_deliveries', '')"


# PostgreSQL: what the database holds.

_FUNCTIONS = """
    SELECT p.proname, p.prosrc, pg_get_functiondef(p.oid), p.oid::regprocedure::text
    FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND NOT EXISTS (
        SELECT 1 FROM pg_depend AS d WHERE d.objid = p.oid AND d.deptype = 'e')
    ORDER BY p.proname
"""


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    with fresh_database("cstar_fn") as url:
        yield url


@pytest.fixture
async def pg(fresh_pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fresh_pg_url.replace("postgresql://", "postgres://", 1))
    try:
        yield conn
    finally:
        await conn.close()


async def database_functions(pg: asyncpg.Connection) -> dict[str, tuple[str, str, str]]:
    """Each function: its source, its full definition, and its signature."""
    return {r[0]: (r[1], r[2], r[3]) for r in await pg.fetch(_FUNCTIONS)}


def _migrate(revision: str, *, down: bool = False) -> Callable[[sa.Connection], None]:
    def work(conn: sa.Connection) -> None:
        (command.downgrade if down else command.upgrade)(migrate.alembic_config(conn), revision)

    return work


@pytest.mark.postgres
async def test_an_upgraded_database_holds_functions_sql(
    fresh_pg_url: str, pg: asyncpg.Connection
) -> None:
    database = open_database(fresh_pg_url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    current = functions(functions_sql())
    held = await database_functions(pg)
    assert {name: source for name, (source, _, _) in held.items()} == {
        name: body(statement) for name, statement in current.items()
    }
    # Signature and all: functions.sql run in place of the migrations' functions defines them
    # exactly as they were (and is valid SQL as it stands).
    tx = pg.transaction()
    await tx.start()
    try:
        for _, _, signature in held.values():
            await pg.execute(f"DROP FUNCTION {signature}")
        assert await database_functions(pg) == {}
        await pg.execute(functions_sql())
        assert await database_functions(pg) == held
    finally:
        await tx.rollback()


@pytest.mark.postgres
async def test_each_migration_leaves_its_own_text_and_each_downgrade_the_one_before(
    fresh_pg_url: str, pg: asyncpg.Connection
) -> None:
    """Up one revision at a time: after each, the database holds the functions as the
    migrations so far write them (0007's inline text, 0004's before it, ...); down again: each
    downgrade puts back exactly what was there before its upgrade."""
    database = open_database(fresh_pg_url)
    try:
        states = {"base": await database_functions(pg)}
        assert states["base"] == {}
        for revision in revisions():
            await database.write(_migrate(revision))
            states[revision] = await database_functions(pg)
            held = {name: source for name, (source, _, _) in states[revision].items()}
            expected = functions_after(revision)
            assert held == {name: body(text) for name, text in expected.items()}, revision
            if revision in CYCLE_SOURCE_SHA256:
                digest = hashlib.sha256(held["cstar_cycle"].encode()).hexdigest()
                assert digest == CYCLE_SOURCE_SHA256[revision], revision
        assert states[revisions()[-1]]["cstar_cycle"][0] == body(
            functions(functions_sql())["cstar_cycle"]
        )
        for previous, revision in reversed(
            list(zip(("base", *revisions()), revisions(), strict=False))
        ):
            await database.write(_migrate(previous, down=True))
            assert await database_functions(pg) == states[previous], f"down from {revision}"
    finally:
        await database.dispose()
