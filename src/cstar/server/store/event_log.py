"""Reading published events in ``seq`` order: what the realtime streams tail and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.store.database import Database
from cstar.server.store.schema import events


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    team_id: str
    type: str
    #: The exact body every delivery of this event sends.
    payload: str


_COLUMNS = (events.c.seq, events.c.team_id, events.c.type, events.c.payload)


def _rows(conn: Connection, statement: sa.Select[Any]) -> list[LoggedEvent]:
    return [LoggedEvent(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(statement)]


class SqlEventLog:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def last_seq(self) -> int:
        """The highest number handed out so far (0 for an empty database)."""
        statement = sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))
        return int(await self._db.read(lambda conn: conn.scalar(statement) or 0))

    async def after(self, seq: int, *, limit: int) -> list[LoggedEvent]:
        """Every team's events numbered above ``seq``, lowest first."""
        statement = (
            sa.select(*_COLUMNS).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
        )
        return await self._db.read(lambda conn: _rows(conn, statement))

    async def team_between(
        self, team_id: str, *, after: int, upto: int, since: datetime, limit: int
    ) -> list[LoggedEvent]:
        """One team's events with ``after < seq <= upto`` created at or after ``since``."""
        statement = (
            sa.select(*_COLUMNS)
            .where(
                events.c.team_id == team_id,
                events.c.seq > after,
                events.c.seq <= upto,
                events.c.created_at >= since,
            )
            .order_by(events.c.seq)
            .limit(limit)
        )
        return await self._db.read(lambda conn: _rows(conn, statement))
