"""Test databases on the PostgreSQL server the suite requires (``CSTAR_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

PG_ADMIN_URL = os.environ.get(
    "CSTAR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty database (its URL), dropped afterwards. Unreachable PostgreSQL fails the
    test; ``CSTAR_TEST_SKIP_POSTGRES=1`` skips it instead, except in CI."""
    if os.environ.get("CSTAR_TEST_SKIP_POSTGRES") == "1" and os.environ.get("CI") != "true":
        pytest.skip("CSTAR_TEST_SKIP_POSTGRES=1")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the test suite and is not reachable at {PG_ADMIN_URL}: "
            f"{exc!r}. Start it with: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start",
            pytrace=False,
        )
    try:
        yield pg_url(name)
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
