"""What both SQL stores share: the engines, transactions, and driver-error translation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from cstar.server.store.contract import StoreError
from cstar.server.store.engine import Engines


class SqlBase:
    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self._pg = engines.dialect == "postgresql"

    @property
    def dialect(self) -> str:
        return self._engines.dialect

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may change data (on SQLite: BEGIN IMMEDIATE on the one writer)."""
        try:
            async with self._engines.write.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engines.read.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {type(exc).__name__}: {exc}") from exc
