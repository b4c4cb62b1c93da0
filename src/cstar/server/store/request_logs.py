"""The API request log in the database: written in batches, read a team's page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.domain.request_logs import (
    LoggedRequest,
    RequestLogEntry,
    RequestLogPage,
    RequestLogQuery,
)
from cstar.server.store.backend import Backend
from cstar.server.store.base import SqlBase
from cstar.server.store.database import Database
from cstar.server.store.schema import request_logs

#: Rows deleted per transaction by :meth:`SqlRequestLogStore.purge`.
PURGE_CHUNK = 5000


def _values(entry: RequestLogEntry) -> dict[str, Any]:
    return {
        "team_id": entry.team_id,
        "created_at": entry.created_at,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "duration_ms": entry.duration_ms,
        "request_id": entry.request_id,
        "key_id": entry.key_id,
        "key_prefix": entry.key_prefix,
    }


def _from_row(row: sa.Row[Any]) -> LoggedRequest:
    return LoggedRequest(
        id=int(row.id),
        team_id=row.team_id,
        created_at=row.created_at,
        method=row.method,
        path=row.path,
        status=row.status,
        duration_ms=row.duration_ms,
        request_id=row.request_id,
        key_id=row.key_id,
        key_prefix=row.key_prefix,
    )


class SqlRequestLogStore(SqlBase):
    def __init__(self, database: Database, backend: Backend) -> None:
        super().__init__(database)
        self._backend = backend

    async def insert(self, entries: Sequence[RequestLogEntry]) -> None:
        """Write a batch in one transaction; ids follow the order of ``entries``."""
        if not entries:
            return
        rows = [_values(e) for e in entries]

        def work(conn: Connection) -> None:
            # Batches commit in the order their ids were drawn (several processes write).
            self._backend.lock_request_log_inserts(conn)
            conn.execute(request_logs.insert(), rows)

        await self._write(work)

    async def list(self, team_id: str, query: RequestLogQuery) -> RequestLogPage:
        c = request_logs.c
        statement = sa.select(request_logs).where(c.team_id == team_id)
        if query.method is not None:
            statement = statement.where(c.method == query.method)
        if query.status is not None:
            if query.status.low == query.status.high:
                statement = statement.where(c.status == query.status.low)
            else:
                statement = statement.where(c.status.between(query.status.low, query.status.high))
        if query.after is not None:
            lower = max(query.after, query.cursor.id if query.cursor else query.after)
            statement = statement.where(c.id > lower).order_by(c.id.asc())
        else:
            if query.cursor is not None:
                statement = statement.where(c.id < query.cursor.id)
            statement = statement.order_by(c.id.desc())
        statement = statement.limit(query.limit + 1)

        def work(conn: Connection) -> RequestLogPage:
            items = [_from_row(r) for r in conn.execute(statement)]
            return RequestLogPage(
                items=items[: query.limit],
                has_more=len(items) > query.limit,
                ascending=query.ascending,
            )

        return await self._read(work)

    async def purge(self, *, before: datetime) -> int:
        """Delete entries created before ``before``, oldest first, in chunks; how many.

        Ids grow with time, so the entries to delete are those below the first id that is not
        old enough: finding it reads only the rows being deleted (no index on ``created_at``,
        which every write would have to maintain). An entry written a moment out of order may
        outlive the cut-off until the next purge.
        """
        c = request_logs.c
        first_kept = (
            sa.select(c.id).where(c.created_at >= before).order_by(c.id.asc()).limit(1)
        ).scalar_subquery()
        bound = sa.func.coalesce(first_kept, sa.select(sa.func.max(c.id) + 1).scalar_subquery())

        def find_bound(conn: Connection) -> int:
            return int(conn.scalar(sa.select(bound)) or 0)

        cut = await self._read(find_bound)
        chunk = sa.select(c.id).where(c.id < cut).order_by(c.id.asc()).limit(PURGE_CHUNK)

        def delete_chunk(conn: Connection) -> int:
            return int(conn.execute(request_logs.delete().where(c.id.in_(chunk))).rowcount)

        removed = 0
        while True:
            count = await self._write(delete_chunk)
            removed += count
            if count < PURGE_CHUNK:
                return removed
