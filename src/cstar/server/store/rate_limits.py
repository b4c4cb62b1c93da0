"""Rate limit counts in the database, shared by every API process (``rate_limit_windows``)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cstar.server.store.base import SqlBase
from cstar.server.store.database import Database
from cstar.server.store.schema import rate_limit_windows

_W = rate_limit_windows.c


class SqlRateLimitLedger(SqlBase):
    """The window counts of one limiter (``limiter`` names it: each has its own window)."""

    def __init__(self, database: Database, limiter: str) -> None:
        super().__init__(database)
        self._limiter = limiter

    async def take(self, window_start: int, key: str, amount: int) -> int:
        """Add ``amount`` to ``key``'s count in the window; the count after, all processes
        together (so the count before is that minus ``amount``: the add is atomic)."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        values = {"limiter": self._limiter, "window_start": window_start, "key": key}
        statement = (
            insert(rate_limit_windows)
            .values(**values, used=amount)
            .on_conflict_do_update(
                index_elements=[_W.limiter, _W.window_start, _W.key],
                set_={"used": _W.used + amount},
            )
            .returning(_W.used)
        )

        def work(conn: Connection) -> int:
            return int(conn.execute(statement).scalar_one())

        return await self._write(work)

    async def forget_before(self, window_start: int) -> int:
        """Delete this limiter's counts of windows that started before ``window_start``."""
        statement = rate_limit_windows.delete().where(
            _W.limiter == self._limiter, _W.window_start < window_start
        )
        return await self._write(lambda conn: int(conn.execute(statement).rowcount))
