"""What both SQL stores share: the database that runs their transaction functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection

from cstar.server.store.database import Database

T = TypeVar("T")


class SqlBase:
    def __init__(self, database: Database) -> None:
        self._db = database

    @property
    def dialect(self) -> str:
        return self._db.dialect

    async def _write(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction that may change data (SQLite: the one writer)."""
        return await self._db.write(work)

    async def _read(self, work: Callable[[Connection], T]) -> T:
        return await self._db.read(work)
