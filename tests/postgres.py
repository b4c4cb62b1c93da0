"""Test databases on the PostgreSQL server the suite requires (``CSTAR_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import pytest

T = TypeVar("T")

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


def run_apart(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh event loop in its own thread: usable from a
    synchronous fixture even while another loop runs in this thread (Playwright's sync API)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty database (its URL), dropped afterwards. Unreachable PostgreSQL fails the
    test; ``CSTAR_TEST_SKIP_POSTGRES=1`` skips it instead, except in CI."""
    if os.environ.get("CSTAR_TEST_SKIP_POSTGRES") == "1" and os.environ.get("CI") != "true":
        pytest.skip("CSTAR_TEST_SKIP_POSTGRES=1")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        run_apart(pg_admin(f'CREATE DATABASE "{name}"'))
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
        run_apart(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
