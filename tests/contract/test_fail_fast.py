"""A database that fails or is closed answers at once with an error, never a wait forever:
a failed first start closes what it opened exactly once, leaves nothing half-done behind, and
work after close is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import StartupError, open_container
from cstar.server.config import Settings
from cstar.server.store.contract import StoreError
from cstar.server.store.database import open_database

#: Generous: each step below takes milliseconds; before the fix the first start never returned.
BOUND = 20.0

_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_teams BEFORE INSERT ON teams "
        "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse_teams() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the disk says no'; END $$",
        "CREATE TRIGGER refuse_teams BEFORE INSERT ON teams "
        "FOR EACH ROW EXECUTE FUNCTION refuse_teams()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER IF EXISTS refuse_teams"],
    "postgresql": ["DROP TRIGGER IF EXISTS refuse_teams ON teams"],
}


async def _run(settings: Settings, statements: dict[str, list[str]]) -> None:
    """Migrate (without a first team) and run the backend's statements."""
    node = await open_container(settings, bootstrap=False)
    try:
        for statement in statements[node.database.dialect]:
            await node.database.write(lambda c, s=statement: c.exec_driver_sql(s))
    finally:
        await node.aclose()


@pytest.fixture
async def refused(settings: Settings) -> AsyncIterator[None]:
    """Creating a team fails in the database (the PostgreSQL database outlives the test)."""
    await _run(settings, _REFUSE)
    yield
    await _run(settings, _ALLOW)


@pytest.mark.usefixtures("refused")
async def test_a_first_start_that_fails_to_create_its_team_fails_fast(settings: Settings) -> None:
    with pytest.raises(StartupError, match=r"cannot create the first team.*the disk says no"):
        await asyncio.wait_for(open_container(settings), BOUND)
    # Nothing was left open or half-closed: the next start fails the same way, as fast.
    with pytest.raises(StartupError, match="the disk says no"):
        await asyncio.wait_for(open_container(settings), BOUND)


@pytest.mark.usefixtures("refused")
async def test_the_start_after_a_failed_first_start_creates_the_team(settings: Settings) -> None:
    with pytest.raises(StartupError):
        await asyncio.wait_for(open_container(settings), BOUND)
    await _run(settings, _ALLOW)

    node = await asyncio.wait_for(open_container(settings), BOUND)
    try:
        # The failed start left no "already bootstrapped" marker behind.
        assert node.bootstrap_team is not None
        assert [t.id for t in await node.teams.list_teams()] == [node.bootstrap_team.team.id]
    finally:
        await node.aclose()


async def test_work_after_close_is_refused_at_once(settings: Settings) -> None:
    database = open_database(settings.database_url)
    assert await database.read(lambda c: c.execute(sa.text("SELECT 1")).scalar()) == 1
    await database.dispose()
    await asyncio.wait_for(database.dispose(), BOUND)  # twice is harmless

    for attempt in (
        database.write(lambda c: c.execute(sa.text("SELECT 1"))),
        database.write_short(lambda c: c.execute(sa.text("SELECT 1"))),
        database.read(lambda c: c.execute(sa.text("SELECT 1"))),
    ):
        with pytest.raises(StoreError, match="closed"):
            await asyncio.wait_for(attempt, BOUND)
