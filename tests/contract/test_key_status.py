"""``SqlKeyStatus.usable``: which of some keys may still hold realtime streams, on both
backends."""

from __future__ import annotations

import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.ids import new_key_id
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.store.key_status import BATCH, SqlKeyStatus
from cstar.server.store.schema import teams


async def test_only_active_keys_of_existing_teams_are_usable(container: Container) -> None:
    keys = container.keys
    first = (await container.teams.create_team("First")).team.id
    doomed = (await container.teams.create_team("Doomed")).team.id
    kept, _ = await keys.create(first, kind=KeyKind.SECRET, mode=KeyMode.TEST, name="kept")
    revoked, _ = await keys.create(first, kind=KeyKind.SECRET, mode=KeyMode.TEST, name="gone")
    orphan, _ = await keys.create(doomed, kind=KeyKind.PUBLISHABLE, mode=KeyMode.LIVE, name="x")
    await keys.revoke(first, revoked.id)
    await container.database.write(
        lambda conn: conn.execute(sa.delete(teams).where(teams.c.id == doomed))
    )
    unknown = new_key_id()
    status = SqlKeyStatus(container.database)

    usable = await status.usable([kept.id, revoked.id, orphan.id, unknown, kept.id])

    assert usable == {kept.id}
    assert await status.usable([]) == set()


async def test_more_keys_than_one_statement_takes(container: Container) -> None:
    team = (await container.teams.create_team("Big")).team.id
    real, _ = await container.keys.create(team, kind=KeyKind.SECRET, mode=KeyMode.TEST, name="k")
    asked = [new_key_id() for _ in range(BATCH * 2)] + [real.id]

    assert await SqlKeyStatus(container.database).usable(asked) == {real.id}
