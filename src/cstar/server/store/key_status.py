"""Which API keys may still be used: what ends realtime streams opened with a revoked key."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.store.database import Database
from cstar.server.store.schema import api_keys, teams

#: Key ids per statement (bound parameters stay well below every driver's limit).
BATCH = 500


class SqlKeyStatus:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def usable(self, key_ids: Collection[str]) -> set[str]:
        """Those of ``key_ids`` that exist, are not revoked and whose team still exists."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return set()

        def work(conn: Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), BATCH):
                statement = (
                    sa.select(api_keys.c.id)
                    .join(teams, teams.c.id == api_keys.c.team_id)
                    .where(
                        api_keys.c.id.in_(wanted[start : start + BATCH]),
                        api_keys.c.revoked_at.is_(None),
                    )
                )
                found.update(str(row[0]) for row in conn.execute(statement))
            return found

        return await self._db.read(work)
