"""The dashboard's sessions and one-time sign-in links in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.domain.dashboard import DashboardSession
from cstar.server.store.base import SqlBase
from cstar.server.store.schema import api_keys, dashboard_links, dashboard_sessions


def _session(row: sa.Row[Any]) -> DashboardSession:
    return DashboardSession(
        token_hash=row.token_hash,
        team_id=row.team_id,
        key_id=row.key_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


class SqlDashboardStore(SqlBase):
    async def insert_session(self, session: DashboardSession) -> None:
        values = {
            "token_hash": session.token_hash,
            "team_id": session.team_id,
            "key_id": session.key_id,
            "csrf_token": session.csrf_token,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
        }
        await self._write(lambda conn: conn.execute(dashboard_sessions.insert().values(**values)))

    async def find_session(self, token_hash: str) -> DashboardSession | None:
        """The session, unless the key it was opened with has been revoked since."""
        s, k = dashboard_sessions.c, api_keys.c
        statement = (
            sa.select(dashboard_sessions)
            .outerjoin(api_keys, k.id == s.key_id)
            .where(s.token_hash == token_hash, sa.or_(s.key_id.is_(None), k.revoked_at.is_(None)))
        )

        def work(conn: Connection) -> DashboardSession | None:
            row = conn.execute(statement).first()
            return None if row is None else _session(row)

        return await self._read(work)

    async def touch_session(self, token_hash: str, now: datetime) -> None:
        statement = (
            dashboard_sessions.update()
            .where(dashboard_sessions.c.token_hash == token_hash)
            .values(last_seen_at=now)
        )
        await self._write(lambda conn: conn.execute(statement))

    async def delete_session(self, token_hash: str) -> None:
        statement = dashboard_sessions.delete().where(dashboard_sessions.c.token_hash == token_hash)
        await self._write(lambda conn: conn.execute(statement))

    async def purge_sessions(self, *, idle_since: datetime) -> int:
        """Delete sessions not used since ``idle_since`` and links past their time; how many
        sessions."""
        stale = dashboard_sessions.delete().where(dashboard_sessions.c.last_seen_at < idle_since)
        links = dashboard_links.delete().where(dashboard_links.c.expires_at < idle_since)

        def work(conn: Connection) -> int:
            conn.execute(links)
            return int(conn.execute(stale).rowcount)

        return await self._write(work)

    async def insert_link(
        self, token_hash: str, team_id: str, *, now: datetime, expires_at: datetime
    ) -> None:
        statement = dashboard_links.insert().values(
            token_hash=token_hash, team_id=team_id, created_at=now, expires_at=expires_at
        )
        await self._write(lambda conn: conn.execute(statement))

    async def use_link(self, token_hash: str, now: datetime) -> str | None:
        """Mark an unused, unexpired link used, in one statement (a second use finds it used);
        its team, or ``None``."""
        c = dashboard_links.c
        statement = (
            dashboard_links.update()
            .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
            .values(used_at=now)
            .returning(c.team_id)
        )

        def work(conn: Connection) -> str | None:
            team_id = conn.execute(statement).scalar()
            return None if team_id is None else str(team_id)

        return await self._write(work)
